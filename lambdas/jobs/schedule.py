"""When to look at a job again.

The interval equals the time the job has run so far (so it doubles from poll to poll), bounded
by ``initial_s`` below and ``max_s`` above, and never reaching past the timeout. A job that runs
T seconds is therefore polled about log2(T / initial_s) + 1 times while the interval is below
the cap: state transitions grow with the logarithm of the duration. The price is latency: a job
is noticed at most one interval (its own age, or ``max_s``) after it ends.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PollSchedule:
    initial_s: int
    max_s: int
    timeout_s: int

    def next_wait(self, elapsed_s: float) -> int:
        """Seconds to wait before the next poll of a job that has run ``elapsed_s`` seconds."""
        wait = min(self.max_s, max(self.initial_s, int(elapsed_s)))
        # Land on the timeout rather than far past it, so a stuck job is stopped promptly.
        remaining = self.timeout_s - int(elapsed_s)
        return max(0, min(wait, remaining + 1))

    def timed_out(self, elapsed_s: float) -> bool:
        return elapsed_s > self.timeout_s

    def polls_for(self, duration_s: float) -> int:
        """Polls until a job of ``duration_s`` is seen finished (for documentation and tests)."""
        elapsed, polls = float(self.initial_s), 1
        while elapsed < duration_s and polls < 100_000:
            elapsed += max(1, self.next_wait(elapsed))
            polls += 1
        return polls
