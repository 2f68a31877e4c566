"""Solara's front-end assets for ``govsim viz`` on a machine without a route to a CDN.

A Solara page loads its JavaScript app, require.js and Font Awesome from ``/_solara/cdn/...``;
the server answers from a cache directory (``$SOLARA_ASSETS_PROXY_CACHE_DIR``, by default
``<sys.prefix>/share/solara/cdn``) and fills a missing file by downloading it from a public CDN.
Where only package registries are reachable, that download fails and the page stays blank. The
files are the contents of npm packages, so :func:`ensure_assets` puts each package the
installed Solara asks for (read off its page template, so a Solara upgrade asks for its own
versions) into the cache with ``npm pack``, once. With a CDN in reach nothing here is needed:
Solara fills the cache itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: a CDN reference in Solara's page template (``{{cdn}}/pkg@1.2.3/``) or widgets (``${this.getCdn()}/pkg@1.2.3/``)
_CDN_REF = re.compile(r"(?:\{\{\s*cdn\s*\}\}|\$\{this\.getCdn\(\)\})/((?:@[\w.-]+/)?[\w.-]+)@(\d+\.\d+\.\d+[\w.+-]*)/")
_PATH_REF = re.compile(r"^/?((?:@[\w.-]+/)?[\w.-]+)@(\d+\.\d+\.\d+[\w.+-]*)/")


def cache_dir() -> Path:
    """Where the Solara server looks for ``/_solara/cdn/<package>@<version>/...`` files."""
    env = os.environ.get("SOLARA_ASSETS_PROXY_CACHE_DIR")
    return Path(env) if env else Path(sys.prefix) / "share" / "solara" / "cdn"


def required_packages() -> list[tuple[str, str]]:
    """``(npm package, version)`` pairs the installed Solara's page loads through its CDN proxy.

    Read off the page template and Solara's own Vue widgets (the draggable grid SolaraViz lays
    its components out in loads ``@widgetti/vue-grid-layout`` at run time).
    """
    import solara

    root = Path(solara.__file__).parent
    sources = [root / "server" / "templates" / "solara.html.j2", *sorted((root / "widgets" / "vue").glob("*.vue"))]
    found: dict[tuple[str, str], None] = {}
    for src in sources:
        if src.is_file():
            found.update(dict.fromkeys(_CDN_REF.findall(src.read_text(encoding="utf-8"))))
    try:  # Vue 3 widgets (ipyvue 3) use the vuetify3 app, older ones the vuetify 2 app
        import ipyvue

        vue3 = str(ipyvue.__version__).startswith("3")
    except ImportError:  # pragma: no cover - solara depends on ipyvue
        vue3 = False
    skip = "@widgetti/solara-vuetify-app" if vue3 else "@widgetti/solara-vuetify3-app"
    out = [(name, ver) for name, ver in found if name != skip]
    fontawesome = os.environ.get("SOLARA_ASSETS_FONTAWESOME_PATH", "/font-awesome@4.5.0/css/font-awesome.min.css")
    m = _PATH_REF.match(fontawesome)
    if m and os.environ.get("SOLARA_ASSETS_FONTAWESOME_ENABLED", "true").lower() not in ("0", "false", "no"):
        out.append((m.group(1), m.group(2)))
    return list(dict.fromkeys(out))


def missing_packages(target: Path | None = None) -> list[tuple[str, str]]:
    """The required packages not yet in the cache."""
    target = cache_dir() if target is None else target
    return [(name, ver) for name, ver in required_packages() if not (target / f"{name}@{ver}").is_dir()]


def _extract(tgz: Path, dest: Path) -> None:
    """Unpack an npm tarball's ``package/`` into ``dest`` (nothing outside it)."""
    tmp = Path(tempfile.mkdtemp(prefix=".govsim-", dir=dest.parent))
    try:
        with tarfile.open(tgz) as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if not parts or (not member.isfile() and not member.isdir()) or ".." in parts:
                    continue
                rel = Path(*parts[1:]) if len(parts) > 1 else None  # strip the "package/" folder
                if rel is None:
                    continue
                out = tmp / rel
                if member.isdir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                if src is not None:
                    out.write_bytes(src.read())
        if dest.exists():  # another process finished first
            return
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_assets(target: Path | None = None, npm: str | None = None, quiet: bool = True) -> list[str]:
    """Fetch the missing packages into the cache with ``npm pack``; return what is still missing.

    Never raises for a failed download: the caller decides whether a missing asset matters
    (with a CDN in reach Solara fetches it itself).
    """
    target = cache_dir() if target is None else target
    todo = missing_packages(target)
    if not todo:
        return []
    npm = npm or shutil.which("npm")
    if npm is None:
        return [f"{n}@{v}" for n, v in todo]
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if not quiet:
            print(f"govsim viz: cannot write Solara's asset cache {target}: {err}", file=sys.stderr)
        return [f"{n}@{v}" for n, v in todo]
    still: list[str] = []
    with tempfile.TemporaryDirectory(prefix="govsim-npm-") as tmp:
        for name, ver in todo:
            spec = f"{name}@{ver}"
            try:
                proc = subprocess.run([npm, "pack", spec, "--pack-destination", tmp, "--silent"], cwd=tmp, check=False,
                                      capture_output=True, text=True, timeout=300)
            except (OSError, subprocess.TimeoutExpired) as err:
                if not quiet:
                    print(f"govsim viz: npm pack {spec} failed: {err}", file=sys.stderr)
                still.append(spec)
                continue
            tgz = Path(tmp) / proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else None
            if tgz is None or not tgz.is_file():
                if not quiet:
                    print(f"govsim viz: npm pack {spec} failed: {proc.stderr.strip()[-300:]}", file=sys.stderr)
                still.append(spec)
                continue
            dest = target / f"{name}@{ver}"
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                _extract(tgz, dest)
            except (OSError, tarfile.TarError) as err:
                if not quiet:
                    print(f"govsim viz: cannot unpack {spec}: {err}", file=sys.stderr)
                still.append(spec)
    return still


__all__ = ["cache_dir", "ensure_assets", "missing_packages", "required_packages"]
