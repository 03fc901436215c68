"""Names the farm tests share, without side effects (importing `helpers` registers things)."""

HELPERS = "tests.farm.helpers"
EXCHANGE = "farm-test-sample"
FRAME = "farm-test-2018-01-12"
SYMBOLS = ["ADA/BTC", "ETH/BTC", "TRX/BTC"]
BOOM_SYMBOL = "ETH/BTC"
SLOW_MARKER_ENV = "FARM_TEST_SLOW_MARKER"
"""While the file this names exists, `tf_sleepy` blocks in get_signal (and touches `<file>.started`)."""

RISK = "tf-book"
"""The risk profile `tf_risky` variants share: they run as one job (a risk group)."""
SMA_A = "tf_sma(fast=5)"
SMA_B = "tf_sma(fast=8,slow=30)"
