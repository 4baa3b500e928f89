"""State transitions per run grow with the logarithm of the job's duration.

Measured from the execution history of the synthesized workflow under the dev stage's poll
schedule (virtual time: the Wait states advance the emulator's clock instead of sleeping).
"""

from __future__ import annotations

import itertools
import math

from bedrock_pipeline.poll_schedule import PollSchedule
from stacks.config import load_stage
from tests.support.workflow import Workflow
from tests.workflow.runs import bedrock_run

HOUR = 3600
# Per poll: Wait, Poll (Task), Is-finished (Choice).
STATES_PER_POLL = 3


def transitions_for(workflow: Workflow, name: str, duration_s: int) -> tuple[int, int]:
    workflow.emulator.script("customization", duration_s=duration_s)
    result = workflow.run(bedrock_run(workflow, name))
    assert result.status == "SUCCEEDED", (result.error, result.cause)
    return result.transitions, result.entered().count("Poll customization job")


def test_transitions_grow_logarithmically_with_job_duration(workflow: Workflow) -> None:
    one_hour, polls_1h = transitions_for(workflow, "hour-1", HOUR)
    one_day, polls_24h = transitions_for(workflow, "day-1", 24 * HOUR)
    print(f"\n1 h job: {one_hour} transitions ({polls_1h} polls)")
    print(f"24 h job: {one_day} transitions ({polls_24h} polls)")
    # Each poll multiplies the job's age by (1 + growth): 24x the duration costs at most
    # log(24) / log(1 + growth) more polls (14.2 at the stages' growth of 0.25).
    schedule = load_stage("dev").poll
    assert polls_24h - polls_1h <= math.ceil(math.log(24) / math.log(1 + schedule.growth))
    assert one_day - one_hour == STATES_PER_POLL * (polls_24h - polls_1h)
    # Linear polling at the first interval (60 s) would take 1,440 polls for the day; this
    # schedule takes at most log(1440) / log(1 + growth) + 2 (34.6 at growth 0.25).
    assert polls_24h <= math.log(24 * HOUR / 60) / math.log(1 + schedule.growth) + 2
    assert polls_1h == schedule.polls_for(HOUR)


def test_schedule_polls_once_per_doubling_until_the_cap() -> None:
    schedule = PollSchedule(initial_s=60, max_s=43200, timeout_s=7 * 86400, growth=1.0)
    for hours in (1, 2, 4, 8, 16, 24):  # the cap (12 h) starts to bind after a day
        duration = hours * HOUR
        assert schedule.polls_for(duration) <= math.log2(duration / 60) + 2, hours
    # Beyond the cap the interval stays at max_s: linear again, with slope 1 / max_s.
    capped = PollSchedule(initial_s=60, max_s=1800, timeout_s=7 * 86400, growth=1.0)
    assert capped.polls_for(24 * HOUR) > 40


def test_wait_never_passes_the_timeout() -> None:
    schedule = PollSchedule(initial_s=60, max_s=43200, timeout_s=100_000, growth=1.0)
    assert schedule.next_wait(90_000) == 10_001
    assert schedule.timed_out(100_001) and not schedule.timed_out(100_000)
    assert schedule.next_wait(0) == 60 and schedule.next_wait(500) == 500


def test_growth_bounds_how_late_a_finished_job_is_noticed() -> None:
    """A job that ends at any moment is seen at the next poll: at most growth x its age then
    (or max_s) later. Fewer polls (higher growth) buy their savings with that latency."""
    for growth in (0.25, 0.5, 1.0):
        schedule = PollSchedule(initial_s=60, max_s=43200, timeout_s=7 * 86400, growth=growth)
        polls_at, elapsed = [], 0.0
        while elapsed < 3 * 86400:
            elapsed += schedule.next_wait(elapsed)
            polls_at.append(elapsed)
        for before, after in itertools.pairwise(polls_at):
            # the worst case: the job ended just after the poll at `before`
            assert after - before <= max(60, min(43200, growth * before)) + 1, (growth, before)
        polls_day = sum(1 for t in polls_at if t <= 86400)
        assert polls_day <= math.log(86400 / 60) / math.log(1 + growth) + 2, growth
