"""One exception hierarchy for everything the host layer can raise."""

from __future__ import annotations

import re


class SmartOSError(Exception):
    """Base class of every error raised by the host layer."""


class TransportError(SmartOSError):
    """The command could not be run at all (connection, authentication, spawn)."""


class HostKeyError(TransportError):
    """The SSH host key is unknown or does not match known_hosts."""


class CommandTimeout(SmartOSError):
    """The command did not finish within its timeout."""

    def __init__(self, argv, timeout):
        self.argv = list(argv)
        self.timeout = timeout
        super().__init__(f"{display_argv(argv)}: timed out after {timeout:g}s")


class CommandError(SmartOSError):
    """A tool exited non-zero. Carries the command, exit code and stderr."""

    def __init__(self, argv, exit_code, stderr, stdout=b""):
        self.argv = list(argv)
        self.exit_code = exit_code
        self.stderr = _text(stderr)
        self.stdout = stdout
        super().__init__(
            f"{display_argv(argv)} exited {exit_code}: {self.message}")

    @property
    def message(self):
        """The tool's own message: the last non-empty stderr line.

        vmadm may put bunyan log lines before it (VMADM_DEBUG_LEVEL), so the
        last line is the one that holds the result.
        """
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""


class NotFound(CommandError):
    """The VM, image, dataset or rule does not exist."""


class UsageError(CommandError):
    """The tool rejected its arguments (exit 2)."""


class InvalidPayload(CommandError):
    """vmadm refused a payload: bad values, missing properties, bad brand."""


class AlreadyExists(CommandError):
    """The object to be created exists already."""


class Busy(CommandError):
    """The object is in use (dladm's "link busy": VNICs over a link)."""


class ImageNotInstalled(NotFound):
    """imgadm: the image is not installed (exit 3)."""


# Every wording the reference lists for "does not exist", across tools.
_NOT_FOUND = re.compile(
    r"No such zone configured|No such zone\b|\bnot found\b|was not found"
    r"|dataset does not exist|does not exist$|No snapshot named"
    r"|ImageNotInstalled|OriginNotInstalled|\bunknown rule\b|rule .* not found",
    re.IGNORECASE | re.MULTILINE)
_INVALID = re.compile(
    r"^Invalid value\(s\) for:|^Missing required properties:"
    r"|^Invalid brand while validating payload|^Invalid nic tag", re.MULTILINE)
_EXISTS = re.compile(r"already exists", re.IGNORECASE)
_BUSY = re.compile(r": link busy$", re.MULTILINE)


def classify(argv, exit_code, stderr, stdout=b"") -> CommandError:
    """Turn a failed command into the most specific error class."""
    text = _text(stderr)
    if exit_code == 3 and argv and _basename(argv[0]) == "imgadm":
        cls = ImageNotInstalled
    elif _NOT_FOUND.search(text):
        cls = NotFound
    elif _INVALID.search(text):
        cls = InvalidPayload
    elif exit_code == 2:
        cls = UsageError
    elif _EXISTS.search(text):
        cls = AlreadyExists
    elif _BUSY.search(text):
        cls = Busy
    else:
        cls = CommandError
    return cls(argv, exit_code, stderr, stdout)


def _basename(arg):
    arg = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else arg
    return arg.rsplit("/", 1)[-1]


def _text(data):
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def display_argv(argv):
    """A readable rendering of argv for messages (never executed)."""
    parts = []
    for arg in argv:
        arg = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else arg
        parts.append(arg if arg and all(c.isalnum() or c in "-_./:=,@" for c in arg)
                     else repr(arg))
    return " ".join(parts)
