"""`training.device_loop.ScheduleClock`: the schedules of a run planned for P steps end exactly at
the last step the measured speed allows, continuously, whatever the first guess was."""

import pytest

from sslhsic_tf.training.device_loop import ScheduleClock


@pytest.mark.parametrize("steps_per_second", [5.0, 40.0])  # slower and faster than planned
def test_positions_reach_the_plan_at_the_fitted_last_step(steps_per_second):
    clock = ScheduleClock(planned=1000)
    assert [clock.counter(s) for s in range(4)] == [0, 1, 2, 3]  # before a measurement: 1:1
    clock.fit(step=20, steps_per_second=steps_per_second, seconds_left=100.0)
    last = 20 + int(steps_per_second * 100.0)
    assert clock.last_step == last
    assert clock.position(20) == pytest.approx(20.0)  # continuous at the re-plan
    assert clock.position(last) == pytest.approx(1000.0)
    assert clock.counter(last + 5) == 999  # past the end: the schedule's last step
    midway = clock.position((20 + last) / 2)
    assert midway == pytest.approx((20 + 1000) / 2)
    # A second measurement re-plans from where the schedule is, still continuous.
    before = clock.position(100)
    clock.fit(step=100, steps_per_second=steps_per_second * 0.5, seconds_left=50.0)
    assert clock.position(100) == pytest.approx(before)
    assert clock.position(100 + int(steps_per_second * 0.5 * 50.0)) == pytest.approx(1000.0)


def test_planning_high_keeps_every_counter_distinct():
    # Planned for 2000 steps, the device does 810: each step advances the counters by >= 1,
    # so no two steps share a step seed (the random features and augmentations differ).
    clock = ScheduleClock(planned=2000)
    clock.fit(step=10, steps_per_second=8.0, seconds_left=100.0)
    counters = [clock.counter(s) for s in range(clock.last_step)]
    assert len(set(counters)) == len(counters) and counters[-1] <= 1999


def test_a_fixed_clock_keeps_its_plan():
    clock = ScheduleClock(planned=8, fixed=True)
    clock.fit(step=5, steps_per_second=100.0, seconds_left=100.0)
    assert clock.last_step == 8 and [clock.counter(s) for s in range(9)] == list(range(8)) + [7]
