"""Export formats behind a registry, as Django's serializers: a format has a name, the
suffix of its files, a writer and a reader; the rest of the project asks the registry and
never knows how a format spells its document.

The built-in format is JSON (formats/json/), the default and the one entry; another is
added with `register_format(name, module)`, a module holding `FORMAT`, an ExportFormat.
A file's format comes from its name (`export.json.gz` is JSON, compressed), else the
default's; the archive's export member is named after its format (`export.json`).
"""

from importlib import import_module
from pathlib import Path

from datatransfer.exceptions import FileFormatError
from datatransfer.files import COMPRESSIONS

DEFAULT_FORMAT = "json"
# How far the start of a file is looked at for signs that it is not what it should be.
SNIFF_SIZE = 4096
BUILTIN_FORMATS = {"json": "datatransfer.formats.json"}
_formats = {}  # name -> ExportFormat, loaded on first use


class ExportFormat:
    """One format: its `name`, the `suffix` of its files, and its reader and writer.

    `reader(source, any_version=...)` opens an ExportSource (or a path) and returns a
    formats.document.DocumentReader; `writer(stream, indent=...)` returns a
    DocumentWriter on a text stream. `server_rows` may spell a table's rows on the
    database server (None: the rows are spelled in Python); `head_problem` says why the
    first bytes of a file cannot start one of its documents ('' when they may).
    """

    name = ""
    suffix = ""

    def reader(self, source, *, any_version=False):
        raise NotImplementedError

    def writer(self, stream, *, indent=2):
        raise NotImplementedError

    def server_rows(self, table, queryset, connection, *, exclude_secrets=False):
        return None

    def head_problem(self, head: bytes) -> str:
        return ""

    def prepare(self) -> None:
        """Set up what the format needs of the process, once, when the application starts."""

    @property
    def member_name(self) -> str:
        """The export's name inside an archive."""
        return f"export{self.suffix}"


def _load_builtins() -> None:
    for name, module in BUILTIN_FORMATS.items():
        if name not in _formats:
            _formats[name] = import_module(module).FORMAT


def register_format(name: str, module: str) -> None:
    """Add the format of `module` (a dotted path to a module holding `FORMAT`) as `name`."""
    _load_builtins()
    _formats[name] = import_module(module).FORMAT


def unregister_format(name: str) -> None:
    _formats.pop(name, None)


def formats() -> dict:
    """{name: ExportFormat} of every registered format, the default first."""
    _load_builtins()
    return dict(_formats)


def get_format(name: str | None = None) -> ExportFormat:
    """The format `name` (the default when None)."""
    return formats()[name or DEFAULT_FORMAT]


def format_for_path(path) -> ExportFormat:
    """The format a file's name asks for (its compression suffix aside), else the default."""
    name = Path(str(path)).name.lower()
    for suffix in COMPRESSIONS:
        name = name.removesuffix(suffix)
    for export_format in formats().values():
        if name.endswith(export_format.suffix):
            return export_format
    return get_format()


def open_reader(source, *, any_version=False):
    """A reader of `source` (an ExportSource, or a path) in the format its name asks for."""
    return format_for_path(getattr(source, "path", source)).reader(source, any_version=any_version)


def prepare_formats() -> None:
    for export_format in formats().values():
        export_format.prepare()


def output_suffixes() -> tuple:
    """How an export's name may end: each format's suffix, alone or compressed."""
    return tuple(
        ending
        for export_format in formats().values()
        for ending in (export_format.suffix, *(export_format.suffix + c for c in COMPRESSIONS))
    )


def archive_members() -> dict:
    """{member name: ExportFormat}: the names an archive's export may have."""
    return {export_format.member_name: export_format for export_format in formats().values()}


def check_output_path(path: str) -> None:
    """Raise FileFormatError when `path` is not a name an export can take (`.json`,
    optionally `.gz`, `.bz2` or `.xz`), or when its folder does not exist: a missing
    folder is never created behind the user's back."""
    if path == "-":
        return
    suffixes = output_suffixes()
    if not path.lower().endswith(suffixes):
        raise FileFormatError(
            f"Cannot write {path}: an export's name ends in {', '.join(suffixes)}."
        )
    folder = Path(path).parent
    if not folder.is_dir():
        raise FileFormatError(f"Cannot write {path}: the folder {folder} does not exist.")
