"""The compiled core of the rowflow package (use the functions of ``rowflow``)."""

from typing import Any, Callable, Dict, List, Optional, Tuple

__version__: str

class RowflowError(Exception):
    """A pipeline that could not start; its message names what and where."""

def run_pipeline(
    path: Optional[str] = None,
    spec_json: Optional[str] = None,
    set: List[str] = ...,
    restart: bool = False,
    wait: bool = False,
    limit: Optional[int] = None,
    progress: Optional[Callable[[Dict[str, Any]], None]] = None,
    stages: List[Any] = ...,
) -> Tuple[str, bool]:
    """Run a pipeline file (``path``) or settings (``spec_json``); returns the report as
    JSON and whether Ctrl-C stopped it."""

class Feeder:
    """The queue between the engine and one Python stage (internal)."""

    def __init__(self) -> None: ...
    def fileno(self) -> int: ...
    def take(self) -> List[Tuple[int, Dict[str, Any]]]: ...
    def finish(self, id: int, result: Optional[Dict[str, Any]]) -> None: ...
    def fail(self, id: int, reason: str) -> None: ...
    def close(self) -> None: ...

def preview_pipeline(
    path: Optional[str] = None,
    spec_json: Optional[str] = None,
    set: List[str] = ...,
    stages: List[Any] = ...,
    rows: int = 20,
    call_http: bool = True,
) -> Dict[str, Any]:
    """Run the first rows through the pipeline, writing nothing."""

def check_pipeline(
    path: Optional[str] = None,
    spec_json: Optional[str] = None,
    set: List[str] = ...,
    stages: List[Any] = ...,
) -> Dict[str, Any]:
    """Check the pipeline, writing nothing."""
