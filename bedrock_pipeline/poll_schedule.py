"""When to look at a long job again: the stage's poll schedule, configured and applied.

The interval is a fixed fraction (``growth``) of the time the job has run so far, bounded by
``initial_s`` below and ``max_s`` above, and never reaching past the timeout. Each poll therefore
multiplies the job's age by (1 + growth): a job that runs T seconds is polled about
log(T / initial_s) / log(1 + growth) + 1 times while the interval is below the cap, so state
transitions grow with the logarithm of the duration. The price is latency, and ``growth`` bounds
it: a finished job is noticed at most ``growth`` times its age (or ``max_s``) after it ends.
growth = 1 doubles the interval each poll (fewest polls, up to 100% late); 0.25 (the default)
polls about three times as often and is at most 25% late.

The stage configuration (``config/<stage>.json``, key ``poll``) holds one of these; the stack
writes it into the job driver's environment, which parses it back into the same class.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PollSchedule(BaseModel):
    """Wait-loop schedule for long jobs, in seconds: each wait is ``growth`` times the job's age
    so far, from ``initial_s`` up to ``max_s``; a job older than ``timeout_s`` is stopped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    initial_s: int = Field(60, ge=0, le=3600)
    growth: float = Field(0.25, gt=0, le=1)
    max_s: int = Field(1800, ge=0, le=86400)
    # Step Functions STANDARD executions may run up to one year; a job has at most this long.
    timeout_s: int = Field(7 * 86400, ge=60, le=30 * 86400)

    @model_validator(mode="after")
    def _ordered(self) -> PollSchedule:
        if self.max_s < self.initial_s:
            raise ValueError(
                f"poll.max_s ({self.max_s}) must be >= poll.initial_s ({self.initial_s})"
            )
        return self

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
