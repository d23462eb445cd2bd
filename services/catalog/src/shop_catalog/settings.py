"""Settings of the catalog service (environment variables; `shop-catalog settings` lists them)."""

from __future__ import annotations

from pydantic import Field

from shopkit.settings import ServiceSettings


class CatalogSettings(ServiceSettings):
    service_name: str = Field("catalog", validation_alias="OTEL_SERVICE_NAME", description="service name in telemetry")
    grpc_port: int = Field(50051, description="gRPC port")
    metrics_port: int = Field(9101, description="Prometheus /metrics port; 0 disables it")
    import_chunk_size: int = Field(
        1000, ge=1, le=5000, description="products written per transaction by ImportProducts"
    )
    import_max_reported_errors: int = Field(
        1000, ge=0, description="failed lines ImportProducts describes in its summary (all are counted)"
    )
    product_cache_seconds: float = Field(
        1.0, ge=0, description="how long GetProduct answers are kept in memory (other replicas' writes show within it)"
    )
    product_cache_max_entries: int = Field(10_000, ge=0, description="GetProduct answers kept; 0 turns the cache off")
    batch_get_max_skus: int = Field(500, ge=1, description="SKUs one BatchGetVariants call may ask for")
    # --- durable product imports (StartProductImport; the import worker every replica runs) ---
    import_worker: bool = Field(True, description="run the import worker in this replica (imports are applied by any)")
    import_batch_lines: int = Field(
        500, ge=1, le=5000, description="lines the import worker applies (and records) per transaction"
    )
    import_lease_seconds: float = Field(
        30.0, gt=0, description="how long a worker owns an import without renewing; after it, another worker resumes it"
    )
    import_poll_seconds: float = Field(
        1.0, gt=0, description="how often an idle import worker looks for queued imports"
    )
    import_retention_days: float = Field(
        30.0, gt=0, description="finished imports (and their line reports) older than this are deleted"
    )
    import_max_lines: int = Field(100_000, ge=1, description="most lines one StartProductImport may upload")
    # --- the search projection's backfill from its owners (backfill.py) ---
    pricing_addr: str = Field(
        "localhost:50052", description="gRPC address of pricing (the backfill reads base prices); empty: no backfill"
    )
    inventory_addr: str = Field(
        "localhost:50055", description="gRPC address of inventory (the backfill reads stock totals); empty: no backfill"
    )
    search_backfill_page_size: int = Field(
        500, ge=1, le=1000, description="prices or stock totals the backfill reads and writes per page (transaction)"
    )
    search_backfill_poll_seconds: float = Field(
        30.0,
        gt=0,
        description="how often an idle replica looks for a backfill asked of another one, or left unfinished",
    )
    search_backfill_call_timeout_seconds: float = Field(
        10.0, gt=0, description="deadline of each page the backfill reads from pricing or inventory"
    )
