"""When to look at a job again.

The interval is a fixed fraction (``growth``) of the time the job has run so far, bounded by
``initial_s`` below and ``max_s`` above, and never reaching past the timeout. Each poll therefore
multiplies the job's age by (1 + growth): a job that runs T seconds is polled about
log(T / initial_s) / log(1 + growth) + 1 times while the interval is below the cap, so state
transitions grow with the logarithm of the duration. The price is latency, and ``growth`` bounds
it: a finished job is noticed at most ``growth`` times its age (or ``max_s``) after it ends.
growth = 1 doubles the interval each poll (fewest polls, up to 100% late); 0.25 polls about
three times as often and is at most 25% late.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PollSchedule:
    initial_s: int
    max_s: int
    timeout_s: int
    growth: float = 1.0

    def next_wait(self, elapsed_s: float) -> int:
        """Seconds to wait before the next poll of a job that has run ``elapsed_s`` seconds."""
        wait = min(self.max_s, max(self.initial_s, int(elapsed_s * self.growth)))
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
