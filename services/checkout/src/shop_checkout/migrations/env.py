from shop_checkout.store import metadata
from shopkit.migrate import run_env

run_env(metadata)
