"""Book maintenance, price/size rounding and position accounting, on hand-worked numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mm_bot.core.book import L2Book
from mm_bot.core.position import Position, pnl_usd
from mm_bot.core.rounding import lots_for_notional, min_lots, round_price, round_size
from mm_bot.core.types import BUY, SELL, BookUpdate, Instrument

LIN = Instrument("BTC", tick_size=0.1, lot_size=0.001, min_notional_usd=10)
HL = Instrument("BTC", tick_size=1e-1, lot_size=1e-5, min_notional_usd=10, max_sig_figs=5)
INV = Instrument("BTCUSD_PERP", tick_size=0.1, lot_size=1, contract_size=100, inverse=True)


def test_book_snapshot_delta_and_best_prices():
    b = L2Book("X")
    b.apply(BookUpdate("X", 1, ((100, 5), (99, 3)), ((101, 2), (103, 7)), snapshot=True))
    assert (b.best_bid, b.best_ask) == (100, 101)
    b.apply(BookUpdate("X", 2, ((100, 0), (98, 1)), ((102, 4),)))
    assert (b.best_bid, b.best_ask) == (99, 101)
    assert b.depth_levels(BUY) == [99, 98]
    assert b.depth_levels(SELL) == [101, 102, 103]
    assert b.mid2() == 200 and b.size_at(SELL, 102) == 4
    assert b.imbalance(1) == pytest.approx((3 - 2) / 5)
    # microprice leans toward the thinner side: (99*2 + 101*3) / 5
    assert b.microprice() == pytest.approx((99 * 2 + 101 * 3) / 5)


def test_book_usable_rules():
    b = L2Book("X")
    assert not b.is_usable(0, 1000)  # empty
    b.apply(BookUpdate("X", 1000, ((100, 5),), ((101, 2),), snapshot=True))
    assert b.is_usable(1500, 1000)
    assert not b.is_usable(2001, 1000)  # stale
    b.apply(BookUpdate("X", 2000, ((102, 1),), ()))
    assert not b.is_usable(2000, 1000)  # crossed
    b.apply(BookUpdate("X", 2001, ((102, 0),), ()))
    assert b.is_usable(2001, 1000)
    b.mark_out_of_sync()
    assert not b.is_usable(2001, 1000)


def test_round_price_bid_down_ask_up_and_on_grid_stays():
    assert round_price(LIN, 61800.27, BUY) == 618002
    assert round_price(LIN, 61800.27, SELL) == 618003
    assert round_price(LIN, 61800.3, BUY) == 618003  # already on the grid: unchanged
    assert round_price(LIN, 61800.3, SELL) == 618003


def test_round_price_five_significant_figures():
    # 105055.37 with 5 sig figs: step 1.0 -> bid 105055, ask 105056 (ticks of 0.1)
    assert round_price(HL, 105055.37, BUY) == 1050550
    assert round_price(HL, 105055.37, SELL) == 1050560
    # 9999.95: step 0.1 below 10000, bid 9999.9; ask rounds up across the power of ten to 10000
    assert round_price(HL, 9999.95, BUY) == 99999
    assert round_price(HL, 9999.95, SELL) == 100000


@given(st.floats(min_value=1.0, max_value=500_000.0), st.sampled_from([BUY, SELL]))
def test_rounding_never_loosens_and_obeys_sig_figs(px, side):
    t = round_price(HL, px, side)
    p = t * HL.tick_size
    if side == BUY:
        assert p <= px + 1e-9
    else:
        assert p >= px - 1e-9
    # At most 5 significant figures, except that an integer price is always allowed.
    if abs(p - round(p)) > 1e-9:
        digits = f"{p:.1f}".replace(".", "").lstrip("0").rstrip("0")
        assert len(digits) <= 5


def test_sizes_and_minimums():
    assert round_size(LIN, 0.0129) == 12
    assert lots_for_notional(LIN, 100, 600000) == 1  # 100 USD at 60000: 0.00166 -> 1 lot of 0.001
    assert min_lots(LIN, 600000) == 1
    assert min_lots(Instrument("S", 0.01, 0.01, min_notional_usd=10), 15000) == 7  # 150 USD/unit: 7 x 1.5 >= 10
    assert lots_for_notional(INV, 1000, 600000) == 10  # 10 contracts of 100 USD


def test_position_average_cost_realized_and_flip():
    p = Position(LIN)
    p.apply_fill(BUY, 1000, 2000, fee_usd=0.1)  # buy 2 @ 100.0
    p.apply_fill(BUY, 1010, 1000, fee_usd=0.05)  # buy 1 @ 101.0 -> avg 100.3333
    assert p.lots == 3000 and p.avg_entry == pytest.approx(100.333333, rel=1e-6)
    p.apply_fill(SELL, 1020, 4000, fee_usd=0.2)  # sell 4 @ 102: close 3, open short 1 @ 102
    assert p.realized_usd == pytest.approx(3 * (102 - 100.333333), rel=1e-6)
    assert p.lots == -1000 and p.avg_entry == pytest.approx(102.0)
    assert p.fees_usd == pytest.approx(0.35)
    assert p.unrealized_usd(101.0) == pytest.approx(1.0)
    assert p.volume_usd == pytest.approx(200 + 101 + 408)


def test_inverse_pnl():
    # long 10 contracts of 100 USD from 50000 to 55000: 1000 * (1/50000 - 1/55000) BTC at 55000
    assert pnl_usd(INV, 10, 50000, 55000) == pytest.approx(1000 * (1 / 50000 - 1 / 55000) * 55000)
    assert INV.notional_usd(500000, 10) == 1000
