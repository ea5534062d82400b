"""The per-user sliding-window cooldown."""

from bot.discord_bot.cooldown import Cooldown


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allows_rate_questions_per_window_per_user():
    clock = Clock()
    cooldown = Cooldown(3, 60, clock)
    assert [cooldown.hit(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert cooldown.hit(1) == 60.0
    assert cooldown.hit(2) == 0.0  # other users are not affected
    clock.now += 45
    assert cooldown.hit(1) == 15.0
    clock.now += 15
    assert cooldown.hit(1) == 0.0  # the first question left the window


def test_refused_questions_do_not_extend_the_wait():
    clock = Clock()
    cooldown = Cooldown(1, 10, clock)
    cooldown.hit(7)
    for _ in range(5):
        clock.now += 1
        cooldown.hit(7)
    clock.now += 5
    assert cooldown.hit(7) == 0.0


def test_warns_once_per_window():
    clock = Clock()
    cooldown = Cooldown(1, 30, clock)
    assert cooldown.should_warn(1) and not cooldown.should_warn(1)
    clock.now += 30
    assert cooldown.should_warn(1)
