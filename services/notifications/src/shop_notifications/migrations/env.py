from shop_notifications.tables import metadata
from shopkit.migrate import run_env

run_env(metadata)
