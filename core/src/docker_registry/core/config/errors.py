"""The one error type a broken configuration raises."""

from __future__ import annotations


class ConfigError(Exception):
    """The configuration cannot be used; the message names the key, flavor and file.

    ``str()`` gives one line such as
    ``config/config.yml, flavor 'prod', key 'storage': unknown storage driver 'gcs' ...``
    which the CLI prints as is (exit status 2, no traceback).

    :param detail: what is wrong and, where possible, how to fix it.
    :param key: the dotted configuration key at fault (``cache_lru.port``).
    :param flavor: the flavor being loaded.
    :param file: the configuration file being read.
    """

    def __init__(
        self,
        detail: str,
        *,
        key: str | None = None,
        flavor: str | None = None,
        file: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.key = key
        self.flavor = flavor
        self.file = file

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.flavor:
            where.append(f"flavor '{self.flavor}'")
        if self.key:
            where.append(f"key '{self.key}'")
        return f"{', '.join(where)}: {self.detail}" if where else self.detail

    def located(self, *, flavor: str | None = None, file: str | None = None) -> ConfigError:
        """Fill in the flavor and file when the raiser did not know them; return self."""
        self.flavor = self.flavor or flavor
        self.file = self.file or file
        return self


class ConfigErrors(ConfigError):
    """Several keys are wrong at once; each is one :class:`ConfigError` of
    :attr:`problems`, and the CLI prints one line for each. ``str()`` is the first.

    :param problems: at least one error.
    """

    def __init__(self, problems: list[ConfigError]) -> None:
        first = problems[0]
        super().__init__(first.detail, key=first.key, flavor=first.flavor, file=first.file)
        self.problems = problems

    def __str__(self) -> str:
        return str(self.problems[0])

    def located(self, *, flavor: str | None = None, file: str | None = None) -> ConfigError:
        for problem in self.problems:
            problem.located(flavor=flavor, file=file)
        return super().located(flavor=flavor, file=file)


def problem_lines(error: ConfigError) -> list[str]:
    """One line per problem of ``error`` (several for :class:`ConfigErrors`)."""
    return [str(problem) for problem in getattr(error, "problems", [error])]


class StartupError(ConfigError):
    """The configuration is valid but what it points at cannot be used: the storage
    driver failed to start (a storage root it cannot write, no credentials, a database
    file that is not one). Printed as one line, exit status 2, like a :class:`ConfigError`.
    """
