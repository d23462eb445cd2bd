# One image per deployable, from wheels built on the host (`make images` fills build/wheelhouse
# first: pypi/ the pinned third-party wheels, shop/ the repository's packages):
#
#   podman build --build-arg SERVICE=catalog -t shop-catalog .      # catalog ... gateway, sandbox
#   podman build --build-arg SERVICE=loadtests -t shop-loadtests .  # locust and loadtests/
#
# The install stages never reach a package index: they install exactly the pinned wheels of the
# wheelhouse (requirements/constraints.txt), which is also what makes the images reproducible.
# The final stage holds the base image's Python and one virtualenv: no pip, no compilers, no
# sources. It runs as UID/GID 10001 and writes nothing outside /tmp, so it works with a read-only
# root filesystem (bytecode is compiled here, at build time).
#
# Layers: every service image is the base, then the third-party packages of the service kit (the
# same layer in all nine images: pulled once per node), then what its own package adds (a few MB).
ARG BASE_IMAGE=python:3.11-slim
ARG SERVICE

# uv (a static binary, from its own wheel: neither pip nor the venv module needed) and the wheels.
FROM ${BASE_IMAGE} AS wheels
ENV PYTHONDONTWRITEBYTECODE=1 UV_NO_CACHE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
# COPY, not a bind mount, so that the layer cache notices when a wheel changes.
COPY build/wheelhouse/pypi /wheels/pypi
COPY build/wheelhouse/kit.txt build/wheelhouse/loadtests.txt requirements/constraints.txt /wheels/
RUN python3 -m zipfile -e /wheels/pypi/uv-*.whl /tmp/uv \
    && install -m 0755 /tmp/uv/uv-*.data/scripts/uv /usr/local/bin/uv \
    && rm -rf /tmp/uv \
    && uv venv --quiet --python "$(command -v python3)" /opt/venv

# The third-party packages of the service kit: changes only with the pins.
FROM wheels AS kit-deps
RUN uv pip install --quiet --python /opt/venv/bin/python --no-index --find-links /wheels/pypi \
        --requirement /wheels/kit.txt \
    && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv

# The service's package and what it adds; /opt/delta holds just the files it added, so that the
# final image can stack them on the shared kit-deps layer.
FROM kit-deps AS service-venv
ARG SERVICE
COPY build/wheelhouse/shop /wheels/shop
RUN case "${SERVICE:-}" in \
      catalog|pricing|cart|checkout|inventory|order|fraud|notifications|customers|gateway|sandbox) ;; \
      *) echo "--build-arg SERVICE=<service|loadtests> is required (got '${SERVICE:-}')" >&2; exit 1 ;; \
    esac \
    && uv pip freeze --python /opt/venv/bin/python > /tmp/before.txt \
    && touch /tmp/marker \
    && uv pip install --quiet --python /opt/venv/bin/python --no-index \
        --find-links /wheels/pypi --find-links /wheels/shop --constraint /wheels/constraints.txt "shop-${SERVICE}" \
    && /opt/venv/bin/python -m compileall -q -j 0 /opt/venv \
    # Only additions: a package replaced here would leave its old files in the shared layer.
    && uv pip freeze --python /opt/venv/bin/python > /tmp/after.txt \
    && if comm -23 /tmp/before.txt /tmp/after.txt | grep .; then echo "replaced packages" >&2; exit 1; fi \
    && mkdir /opt/delta \
    && cd / && find opt/venv -cnewer /tmp/marker \( -type f -o -type l \) -print0 \
        | tar --null --files-from - -cf - | tar -C /opt/delta -xf -

FROM wheels AS loadtests-venv
COPY build/wheelhouse/shop /wheels/shop
RUN uv pip install --quiet --python /opt/venv/bin/python --no-index \
        --find-links /wheels/pypi --find-links /wheels/shop --constraint /wheels/constraints.txt \
        --requirement /wheels/loadtests.txt shop-protos
COPY loadtests/locustfile.py /opt/loadtests/locustfile.py
COPY loadtests/shop_load /opt/loadtests/shop_load
RUN /opt/venv/bin/python -m compileall -q -j 0 /opt/venv /opt/loadtests

FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /tmp

FROM runtime AS service
COPY --from=kit-deps /opt/venv /opt/venv
COPY --from=service-venv /opt/delta/ /

FROM runtime AS loadtests-image
COPY --from=loadtests-venv /opt/venv /opt/venv
COPY --from=loadtests-venv /opt/loadtests /opt/loadtests
ENV LOCUST_LOCUSTFILE=/opt/loadtests/locustfile.py

# One stage per image: the console script as the entrypoint.
FROM service AS catalog
ENTRYPOINT ["shop-catalog"]
CMD ["serve"]

FROM service AS pricing
ENTRYPOINT ["shop-pricing"]
CMD ["serve"]

FROM service AS cart
ENTRYPOINT ["shop-cart"]
CMD ["serve"]

FROM service AS checkout
ENTRYPOINT ["shop-checkout"]
CMD ["serve"]

FROM service AS inventory
ENTRYPOINT ["shop-inventory"]
CMD ["serve"]

FROM service AS order
ENTRYPOINT ["shop-order"]
CMD ["serve"]

FROM service AS fraud
ENTRYPOINT ["shop-fraud"]
CMD ["serve"]

FROM service AS notifications
ENTRYPOINT ["shop-notifications"]
CMD ["serve"]

FROM service AS customers
ENTRYPOINT ["shop-customers"]
CMD ["serve"]

FROM service AS gateway
ENTRYPOINT ["shop-gateway"]
CMD ["serve"]

FROM service AS sandbox
ENTRYPOINT ["shop-sandbox"]
CMD ["serve"]

FROM loadtests-image AS loadtests
ENTRYPOINT ["locust"]
CMD []

# The image of SERVICE: its stage above, labelled, as the non-root user.
FROM ${SERVICE}
ARG SERVICE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=""
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="shop-${SERVICE}" \
      org.opencontainers.image.description="The shop platform: ${SERVICE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/shop-platform/shop" \
      org.opencontainers.image.vendor="shop" \
      org.opencontainers.image.licenses="Proprietary" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
USER 10001:10001
