"""The catalog's domain: products, variants and categories, and the rules they keep. No I/O.

A `ProductSpec` is what a client writes (create, update, import line); a `Product` is a spec as
stored, with its id, version and timestamps. Validation collects every problem into a
`Violations` so a caller sees all of them at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shopkit.errors import FailedPrecondition, Violations
from shopkit.identifiers import SKU_RULE, is_sku


class ProductStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    DISCONTINUED = "discontinued"


class Channel(StrEnum):
    WEB = "web"
    MOBILE = "mobile"
    B2B = "b2b"
    POS = "pos"


SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ATTRIBUTE_KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

MAX_SLUG = 120
MAX_NAME = 200
MAX_DESCRIPTION = 10_000
MAX_BRAND = 100
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_VALUE = 200
MAX_VARIANTS = 100
MAX_CATEGORY_DEPTH = 8
# Returns: how long after delivery a product may come back, unless it is not returnable at all.
DEFAULT_RETURN_WINDOW_DAYS = 30
MAX_RETURN_WINDOW_DAYS = 365

# Top-level product fields a client may change (the UpdateProduct field mask, event changed_fields).
MUTABLE_FIELDS = (
    "slug",
    "name",
    "description",
    "brand",
    "category_id",
    "attributes",
    "channels",
    "status",
    "variants",
    "return_window_days",
    "returnable",
)
# Fields whose default leaves a product's content digest as it was before they existed.
_DIGEST_DEFAULTS: dict[str, Any] = {"return_window_days": str(DEFAULT_RETURN_WINDOW_DAYS), "returnable": "True"}


@dataclass(frozen=True, slots=True)
class Dimensions:
    length_mm: int
    width_mm: int
    height_mm: int


@dataclass(frozen=True, slots=True)
class Variant:
    sku: str
    title: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    weight_grams: int | None = None
    dimensions: Dimensions | None = None
    track_inventory: bool = True
    allow_preorder: bool = False


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """A product's content as a client writes it. The category is named by id or by slug until the
    store resolves the slug (`category_id` is then set)."""

    slug: str
    name: str
    description: str = ""
    brand: str = ""
    category_id: uuid.UUID | None = None
    category_slug: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    channels: tuple[Channel, ...] = ()
    status: ProductStatus = ProductStatus.DRAFT
    variants: tuple[Variant, ...] = ()
    return_window_days: int = DEFAULT_RETURN_WINDOW_DAYS
    returnable: bool = True

    @property
    def skus(self) -> list[str]:
        return [v.sku for v in self.variants]


@dataclass(frozen=True, slots=True)
class Product:
    id: uuid.UUID
    spec: ProductSpec
    version: int
    created_at: datetime
    updated_at: datetime
    discontinued_at: datetime | None = None
    category_path: str = ""


@dataclass(frozen=True, slots=True)
class Category:
    id: uuid.UUID
    parent_id: uuid.UUID | None
    slug: str
    name: str
    path: str
    depth: int
    created_at: datetime


# --- normalisation -------------------------------------------------------------------------------


def slugify(text: str) -> str:
    """'Trail Runner 2 (Men's)' -> 'trail-runner-2-men-s'; '' when nothing usable remains."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:MAX_SLUG].strip("-")


def complete(spec: ProductSpec) -> ProductSpec:
    """Fill the defaults: slug from the name, variant titles from the name, channels once each, in order."""
    name = spec.name.strip()
    variants = tuple(v if v.title.strip() else dataclasses.replace(v, title=name) for v in spec.variants)
    return dataclasses.replace(
        spec,
        name=name,
        slug=spec.slug or slugify(name),
        channels=tuple(sorted(set(spec.channels), key=list(Channel).index)),
        variants=variants,
    )


# --- validation ----------------------------------------------------------------------------------


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def check_slug(slug: str, path: str, violations: Violations) -> None:
    if not slug:
        violations.add(path, "is required")
    elif len(slug) > MAX_SLUG or not SLUG_PATTERN.match(slug):
        violations.add(path, f"must be lower-case letters and digits joined by '-' (at most {MAX_SLUG})")


def check_attributes(attributes: Mapping[str, str], path: str, violations: Violations) -> None:
    if len(attributes) > MAX_ATTRIBUTES:
        violations.add(path, f"at most {MAX_ATTRIBUTES} attributes")
    for key, value in attributes.items():
        if not ATTRIBUTE_KEY_PATTERN.match(key):
            violations.add(f"{path}[{key!r}]", "key must be lower_snake_case, starting with a letter (at most 40)")
        if not value.strip() or len(value) > MAX_ATTRIBUTE_VALUE:
            violations.add(f"{path}[{key!r}]", f"value must be 1-{MAX_ATTRIBUTE_VALUE} characters")


def check_variant(variant: Variant, path: str, violations: Violations) -> None:
    if not variant.sku:
        violations.add(f"{path}.sku", "is required")
    elif not is_sku(variant.sku):
        violations.add(f"{path}.sku", SKU_RULE)
    if len(variant.title) > MAX_NAME:
        violations.add(f"{path}.title", f"at most {MAX_NAME} characters")
    check_attributes(variant.attributes, f"{path}.attributes", violations)
    if variant.weight_grams is not None and variant.weight_grams < 0:
        violations.add(f"{path}.weight_grams", "must not be negative")
    dims = variant.dimensions
    if dims is not None and min(dims.length_mm, dims.width_mm, dims.height_mm) <= 0:
        violations.add(f"{path}.dimensions", "length, width and height must all be positive")


def check_spec(spec: ProductSpec, prefix: str, violations: Violations) -> None:
    """Every rule of a product's content that needs no database (the category is checked by the store)."""
    if not spec.name.strip():
        violations.add(_join(prefix, "name"), "is required")
    elif len(spec.name) > MAX_NAME:
        violations.add(_join(prefix, "name"), f"at most {MAX_NAME} characters")
    check_slug(spec.slug, _join(prefix, "slug"), violations)
    if len(spec.description) > MAX_DESCRIPTION:
        violations.add(_join(prefix, "description"), f"at most {MAX_DESCRIPTION} characters")
    if len(spec.brand) > MAX_BRAND:
        violations.add(_join(prefix, "brand"), f"at most {MAX_BRAND} characters")
    if spec.category_id is None and not spec.category_slug:
        violations.add(_join(prefix, "category_id"), "is required (or category_slug)")
    check_attributes(spec.attributes, _join(prefix, "attributes"), violations)
    if not 0 <= spec.return_window_days <= MAX_RETURN_WINDOW_DAYS:
        violations.add(_join(prefix, "return_window_days"), f"must be 0 to {MAX_RETURN_WINDOW_DAYS} days")
    if not spec.variants:
        violations.add(_join(prefix, "variants"), "at least one variant is required")
    elif len(spec.variants) > MAX_VARIANTS:
        violations.add(_join(prefix, "variants"), f"at most {MAX_VARIANTS} variants")
    first_index: dict[str, int] = {}
    for index, variant in enumerate(spec.variants):
        path = f"{_join(prefix, 'variants')}[{index}]"
        check_variant(variant, path, violations)
        if variant.sku in first_index:
            violations.add(f"{path}.sku", f"duplicate of variants[{first_index[variant.sku]}].sku")
        else:
            first_index[variant.sku] = index


def check_category(name: str, slug: str, prefix: str, violations: Violations) -> None:
    if not name.strip():
        violations.add(_join(prefix, "name"), "is required")
    elif len(name) > MAX_NAME:
        violations.add(_join(prefix, "name"), f"at most {MAX_NAME} characters")
    check_slug(slug, _join(prefix, "slug"), violations)


def category_path(parent: Category | None, slug: str) -> tuple[str, int]:
    """The path and depth of a new category under `parent`."""
    if parent is None:
        return slug, 0
    if parent.depth + 1 >= MAX_CATEGORY_DEPTH:
        raise FailedPrecondition(
            f"categories nest at most {MAX_CATEGORY_DEPTH} levels deep", reason="CATEGORY_TOO_DEEP"
        )
    return f"{parent.path}/{slug}", parent.depth + 1


# --- lifecycle -----------------------------------------------------------------------------------


def check_status_change(
    old: ProductStatus, new: ProductStatus, *, bulk: bool, field_path: str, violations: Violations
) -> None:
    """Draft and active switch freely; discontinued is terminal. Single updates discontinue only through
    DiscontinueProduct (so that the intent is explicit); a bulk import may discontinue."""
    if old == new:
        return
    if old is ProductStatus.DISCONTINUED:
        raise FailedPrecondition("a discontinued product cannot be reactivated", reason="PRODUCT_DISCONTINUED")
    if new is ProductStatus.DISCONTINUED and not bulk:
        violations.add(field_path, "use DiscontinueProduct to discontinue a product")


def changed_fields(old: ProductSpec, new: ProductSpec) -> list[str]:
    """The top-level fields whose content differs (category compared by id)."""
    return [name for name in MUTABLE_FIELDS if _canonical_field(old, name) != _canonical_field(new, name)]


def apply_patch(current: ProductSpec, patch: ProductSpec, fields: Iterable[str]) -> ProductSpec:
    """`current` with the named top-level fields taken from `patch` (a field mask update)."""
    changes: dict[str, Any] = {}
    for name in fields:
        if name in ("category_id", "category_slug"):
            changes["category_id"], changes["category_slug"] = patch.category_id, patch.category_slug
        else:
            changes[name] = getattr(patch, name)
    return dataclasses.replace(current, **changes)


# --- derived data --------------------------------------------------------------------------------


def facets(spec: ProductSpec) -> dict[str, list[str]]:
    """Filterable values: product and variant attributes plus the brand, key -> sorted distinct values,
    lower-cased so that filters match regardless of case."""
    values: dict[str, set[str]] = {}
    sources: list[Mapping[str, str]] = [spec.attributes, *(v.attributes for v in spec.variants)]
    if spec.brand:
        sources.append({"brand": spec.brand})
    for attributes in sources:
        for key, value in attributes.items():
            values.setdefault(key, set()).add(value.strip().lower())
    return {key: sorted(found) for key, found in sorted(values.items())}


def facet_filter(attributes: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """The JSON that a product's facets must contain to match every `key = value` filter."""
    wanted: dict[str, list[str]] = {}
    for key, value in attributes:
        wanted.setdefault(key, []).append(value.strip().lower())
    return wanted


def content_hash(spec: ProductSpec) -> str:
    """A digest of everything a client controls: an import line identical to the stored product
    has the same digest and changes nothing."""
    document = {
        name: value
        for name in MUTABLE_FIELDS
        if (value := _canonical_field(spec, name)) != _DIGEST_DEFAULTS.get(name, object())
    }
    raw = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def _canonical_field(spec: ProductSpec, name: str) -> Any:
    if name == "category_id":
        return str(spec.category_id) if spec.category_id else spec.category_slug
    if name == "channels":
        return [str(c) for c in spec.channels]
    if name == "attributes":
        return dict(sorted(spec.attributes.items()))
    if name == "variants":
        return [_canonical_variant(v) for v in spec.variants]
    return str(getattr(spec, name))


def _canonical_variant(variant: Variant) -> dict[str, Any]:
    return {
        "sku": variant.sku,
        "title": variant.title,
        "attributes": dict(sorted(variant.attributes.items())),
        "weight_grams": variant.weight_grams,
        "dimensions": dataclasses.astuple(variant.dimensions) if variant.dimensions else None,
        "track_inventory": variant.track_inventory,
        "allow_preorder": variant.allow_preorder,
    }
