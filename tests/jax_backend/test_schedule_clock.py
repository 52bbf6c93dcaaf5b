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


def _simulate(planned, seconds_per_step, seconds):
    """The device loop's use of the clock with simulated time (no warm-up steps): steps of
    `seconds_per_step` until `seconds` have passed; returns (steps trained, final schedule
    position)."""
    clock, step, now = ScheduleClock(planned), 0, 0.0
    clock.start_timing(step, now)
    while step < clock.last_step and now < seconds:
        step, now = step + 1, now + seconds_per_step
        clock.tick(step, now, train_end=seconds)
    return step, clock.position(step)


@pytest.mark.parametrize("seconds_per_step", [0.01, 0.5, 2.5])
def test_the_schedules_end_with_the_budget_however_slow_the_steps(seconds_per_step):
    # A budget of 40 s of steps planned for 4,000: at 2.5 s a step (a CPU smoke run beside other
    # jobs) the budget ends after 16 steps, before CALIBRATE_STEPS; the fit after 2 s still ends
    # the schedules at the last step.
    steps, position = _simulate(planned=4000, seconds_per_step=seconds_per_step, seconds=40.0)
    assert abs(steps - min(4000, round(40.0 / seconds_per_step))) <= 1
    assert position == pytest.approx(4000.0, rel=0.02)


def test_fits_are_due_after_calibration_then_more_often_near_the_end():
    clock = ScheduleClock(planned=10_000)
    assert not clock.due(step=5, steps_since=5, seconds_since=0.1)
    assert clock.due(step=20, steps_since=20, seconds_since=0.1)
    assert clock.due(step=2, steps_since=2, seconds_since=2.5)  # slow steps
    assert not clock.due(step=1, steps_since=1, seconds_since=9.0)  # one step is no speed
    clock.fit(step=20, steps_per_second=10.0, seconds_left=1000.0)  # ends at step 10,020
    assert not clock.due(step=300, steps_since=280, seconds_since=60.0)
    assert clock.due(step=320, steps_since=300, seconds_since=60.0)
    assert not clock.due(step=9_900, steps_since=14, seconds_since=1.4)  # 120 steps left: every 15
    assert clock.due(step=9_900, steps_since=15, seconds_since=1.5)


def test_tick_fits_to_the_speed_since_the_last_fit():
    clock = ScheduleClock(planned=10_000)
    assert clock.tick(step=50, now=5.0, train_end=100.0) is None  # not timing yet
    clock.start_timing(step=2, now=1.0)
    assert clock.tick(step=10, now=1.8, train_end=100.0) is None  # 8 steps, 0.8 s: not due
    assert clock.tick(step=22, now=3.0, train_end=100.0) == pytest.approx(10.0)  # 20 in 2 s
    assert clock.last_step == 22 + int(10.0 * 97.0)
    # The next speed is measured from that fit: 300 steps in 60 s.
    assert clock.tick(step=322, now=63.0, train_end=100.0) == pytest.approx(5.0)
    assert clock.last_step == 322 + int(5.0 * 37.0)
