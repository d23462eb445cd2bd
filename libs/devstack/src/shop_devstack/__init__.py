"""The local developer stack: `shop-dev run | status | seed | psql | bench`."""
