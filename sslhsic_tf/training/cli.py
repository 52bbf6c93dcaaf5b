"""What the scripts share: user errors as ONE line `error: <message>` on stderr, `--debug`.

`run(main)` replaces `absl.app.run(main)`. A user error (bad flag or config override, ValueError,
TypeError, OSError such as FileNotFoundError/FileExistsError, FloatingPointError, a TensorFlow
op error such as an input pipeline's InvalidArgumentError, `app.UsageError`) ends the process
with one line `error: <message>` on stderr and a non-zero exit code, and no traceback:

  exit 2   bad command line (unknown flag, bad flag value, unknown --config.KEY, bad --config)
  exit 1   any other user error
  exit 130 interrupted (Ctrl-C)

`--debug` re-raises instead, with the full traceback. Any other exception (a bug) is not
caught: Python prints its traceback.

Config files are defined with `define_config_file` (instead of `config_flags.DEFINE_config_file`):
ml_collections applies `--config.KEY=VALUE` overrides of the default config file while the flag
is being defined (at import), where an unknown key would otherwise crash with a traceback; the
error is kept and reported by `run` as one line naming the key and the valid keys.
"""

import difflib
import os
import re
import runpy
import sys

from absl import app, flags

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

flags.DEFINE_bool("debug", False, "On an error, show the full traceback instead of one line "
                  "'error: <message>'.")

_DEFINE_ERRORS = []  # (flag name, default file, exception) from define_config_file
_CONFIG_FLAGS = {}  # flag name -> default config file


def one_line(message):
    """`message` on one line: lines joined by ' '; from a TensorFlow op error, only the op's own
    message (no "Detected at node ..." traceback, no [[node ...]] context)."""
    raw = [line.strip() for line in str(message).splitlines()]
    if any(line.startswith("Detected at node") for line in raw):
        files = [i for i, line in enumerate(raw) if line.startswith('File "')]
        raw = raw[files[-1] + 1:] if files else raw
    lines = []
    for line in raw:
        if not line or line.startswith(("[[", "Graph execution error", "Detected at node")):
            continue
        if line.startswith("Traceback"):
            break
        line = re.sub(r"\s*\[\[\{\{node [^]]*\]\]|\s*\[Op:[^]]*\]", "", line)
        if line:
            lines.append(line)
    return " ".join(lines)


def describe(exc):
    """The one-line message of a user error."""
    message = getattr(exc, "message", None)  # tf.errors.OpError keeps the op's own message
    if not isinstance(message, str):
        message = str(exc)
    if isinstance(exc, KeyError) and message.startswith(("'", '"')):
        message = message[1:-1]
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in message:
        message = f"{message}: {exc.filename}"
    text = one_line(message)
    name = type(exc).__name__
    if name not in _PLAIN:  # e.g. PermissionError, InvalidArgumentError, EOFError: say which
        text = f"{text} ({name})"
    return text


_PLAIN = ("ValueError", "TypeError", "UsageError", "FloatingPointError", "FileNotFoundError",
          "FileExistsError")


def _user_errors():
    errors = [ValueError, TypeError, OSError, EOFError, FloatingPointError]
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "errors"):
        errors.append(tf.errors.OpError)
    jax_errors = sys.modules.get("jax.errors")
    if jax_errors is not None and hasattr(jax_errors, "JaxRuntimeError"):
        errors.append(jax_errors.JaxRuntimeError)
    return tuple(errors)


def _debug(argv=None):
    try:
        return bool(flags.FLAGS.debug)
    except (flags.UnparsedFlagAccessError, AttributeError):
        argv = sys.argv if argv is None else argv
        return any(a in ("--debug", "-debug", "--debug=true", "--debug=True") for a in argv)


def fail(message, code=EXIT_ERROR):
    """Prints `error: <message>` (one line) to stderr and exits with `code`."""
    sys.stderr.flush()
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)
    sys.exit(code)


# ------------------------------------------------------------------------------ config files
def _config_spec(name, argv, default):
    """(file, argument) of the config flag `name` in argv (else the default)."""
    value = default
    for i, arg in enumerate(argv):
        for prefix in (f"--{name}=", f"-{name}="):
            if arg.startswith(prefix):
                value = arg[len(prefix):]
        if arg in (f"--{name}", f"-{name}") and i + 1 < len(argv):
            value = argv[i + 1]
    path, _, config_arg = value.partition(":")
    return path, config_arg


def _overrides(name, argv):
    out = []
    for i, arg in enumerate(argv):
        for prefix in (f"--{name}.", f"-{name}.", f"--no{name}.", f"-no{name}."):
            if arg.startswith(prefix):
                key, eq, value = arg[len(prefix):].partition("=")
                if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                    value = argv[i + 1]
                out.append((key, f"{arg.split('=', 1)[0]}={value}" if eq or value else arg))
    return out


def _load_config(path, config_arg):
    module = runpy.run_path(path)
    if "get_config" not in module:
        raise ValueError(f"config file {path} has no get_config()")
    return module["get_config"](config_arg) if config_arg else module["get_config"]()


def config_error(name, argv, default, exc):
    """A one-line message for a failure to load the config flag `name` or apply its overrides."""
    path, config_arg = _config_spec(name, argv, default)
    if not os.path.isfile(path):
        return f"--{name}={path}: no such config file"
    try:
        config = _load_config(path, config_arg)
    except Exception as e:  # the file itself is broken: say so
        return f"--{name}={path}: the config file fails to load: {type(e).__name__}: {one_line(e)}"
    for key, text in _overrides(name, argv):
        node, walked = config, name
        for part in key.split("."):
            keys = list(node.keys()) if hasattr(node, "keys") else None
            if keys is None or part not in keys:
                valid = f"keys of {walked}: {', '.join(sorted(keys))}" if keys else (
                    f"{walked} is a {type(node).__name__}, not a section")
                return f"{text}: unknown config key {part!r} ({valid})"
            node, walked = node[part], f"{walked}.{part}"
    return f"--{name}: {one_line(exc)}"


def define_config_file(name, default, help_string, **kwargs):
    """`config_flags.DEFINE_config_file`, with errors in overrides kept for `run` to report."""
    from ml_collections import config_flags

    _CONFIG_FLAGS[name] = default
    try:
        config_flags.DEFINE_config_file(name, default, help_string, **kwargs)
    except Exception as e:  # noqa: BLE001 - reported as one line by run()
        _DEFINE_ERRORS.append((name, default, e))


def presets(folder):
    """The preset names in `folder` (its `*.py` files with a `get_config`, without `.py`)."""
    names = []
    for entry in sorted(os.listdir(folder)):
        if entry.endswith(".py") and not entry.startswith("_"):
            with open(os.path.join(folder, entry)) as f:
                if "def get_config" in f.read():
                    names.append(entry[:-3])
    return names


def _resolve_preset(name, argv, default):
    """Lets `--NAME=PRESET` name a preset shipped beside the default config file (e.g.
    `--config=cifar10_simclr`): rewrites argv to its path. A value that is neither a file nor a
    preset fails with the closest preset names."""
    path, config_arg = _config_spec(name, argv, default)
    if os.path.isfile(path):
        return argv
    folder = os.path.dirname(default)
    candidates = presets(folder) if os.path.isdir(folder) else []
    stem = os.path.basename(path)[:-3] if path.endswith(".py") else path
    if stem in candidates and os.sep not in path:
        resolved = os.path.join(folder, stem + ".py") + (f":{config_arg}" if config_arg else "")
        out = []
        skip = False
        for i, arg in enumerate(argv):
            if skip:
                skip = False
                continue
            if arg.startswith((f"--{name}=", f"-{name}=")):
                out.append(f"--{name}={resolved}")
            elif arg in (f"--{name}", f"-{name}") and i + 1 < len(argv):
                out.append(f"--{name}={resolved}")
                skip = True
            else:
                out.append(arg)
        return out
    close = difflib.get_close_matches(stem, candidates, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    fail(f"--{name}={path}: no such config file or preset{hint} (presets: "
         f"{', '.join(candidates)})", EXIT_USAGE)


def _parse_flags(argv):
    for name, default in _CONFIG_FLAGS.items():
        argv = _resolve_preset(name, argv, default)
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        if _debug(argv):
            raise
        fail(f"{one_line(e)} (see --helpfull)", EXIT_USAGE)
    except Exception as e:  # noqa: BLE001
        # ml_collections while parsing a config flag: a config file that fails to load (its
        # get_config() raising, a syntax error), or a bad override of it.
        if _debug(argv) or not _CONFIG_FLAGS:
            raise
        name = next((n for n in _CONFIG_FLAGS
                     if any(a.lstrip("-").startswith((n, f"no{n}.")) for a in argv[1:])),
                    next(iter(_CONFIG_FLAGS)))
        fail(config_error(name, argv, _CONFIG_FLAGS[name], e), EXIT_USAGE)


def run(main, argv=None):
    """`absl.app.run(main)` with one-line user errors (see the module docstring)."""
    argv = list(sys.argv if argv is None else argv)
    if _DEFINE_ERRORS:
        name, default, exc = _DEFINE_ERRORS[0]
        if _debug(argv):
            raise exc
        fail(config_error(name, argv, default, exc), EXIT_USAGE)

    def guarded(args):
        try:
            return main(args)
        except app.UsageError as e:
            if _debug():
                raise
            fail(f"{one_line(e)} (see --helpfull)", EXIT_USAGE)
        except KeyboardInterrupt:
            if _debug():
                raise
            fail("interrupted", EXIT_INTERRUPTED)
        except _user_errors() as e:
            if _debug():
                raise
            fail(describe(e), EXIT_ERROR)

    app.run(guarded, argv=argv, flags_parser=_parse_flags)
