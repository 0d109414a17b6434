"""The few ``git`` operations the GitOps target needs, through the git CLI.

Every commit names its paths explicitly (``git commit -- <paths>``), so whatever else is
staged or modified in the clone is neither committed nor touched. A commit author is set
only when the clone has none configured (pipeline pods usually have none).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from kfp_mlops.components.common.errors import InfrastructureError, ParameterError, UserError

log = logging.getLogger(__name__)

#: Author of the commits when the clone has no ``user.name`` / ``user.email``.
DEFAULT_AUTHOR = ("kfp-mlops", "kfp-mlops@localhost")


class GitError(UserError):
    """A git operation failed because of the clone's state (conflict, diverged, no repo)."""


class PushError(InfrastructureError):
    """The commit was made locally but the remote did not take it."""


class GitRepo:
    """A local clone (work tree) driven through the ``git`` CLI.

    Args:
        path: The clone's top folder (or any folder inside it).

    Raises:
        ParameterError: If git is not installed or ``path`` is not inside a git work tree.
    """

    def __init__(self, path: str | Path) -> None:
        git = shutil.which("git")  # a full path: what runs is the git found here, once
        if git is None:
            raise ParameterError(
                "the git CLI is not installed", "install git in the pipeline image"
            )
        self.git = git
        folder = Path(path)
        if not folder.is_dir():
            raise ParameterError(
                f"git_repo '{path}' is not a folder",
                "clone the GitOps repository first (git clone <url> <path>)",
            )
        top = subprocess.run(
            [git, "-C", str(folder), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            check=False,
        )
        if top.returncode != 0:
            raise ParameterError(
                f"git_repo '{path}' is not a git work tree ({top.stderr.strip()})",
                "clone the GitOps repository there, or leave git_repo empty to only write files",
            )
        self.path = Path(top.stdout.strip()).resolve()

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``git <args>`` in the clone; raise :class:`GitError` on failure if ``check``."""
        cmd = [self.git, "-C", str(self.path), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise GitError(
                f"`git {' '.join(args)}` failed in {self.path}: {' | '.join(detail[-4:])}",
                "resolve the clone's state (git status) and run again",
            )
        return done

    def relative(self, path: str | Path) -> str:
        """``path`` relative to the clone's top folder (posix).

        Raises:
            ParameterError: If ``path`` is outside the clone.
        """
        try:
            return Path(path).resolve().relative_to(self.path).as_posix()
        except ValueError as exc:
            raise ParameterError(
                f"gitops_dir '{path}' is outside the git clone {self.path}",
                "set gitops_dir to a folder inside git_repo (or leave it empty)",
            ) from exc

    def head(self) -> str:
        """The commit checked out (empty before the first commit)."""
        done = self.run("rev-parse", "--verify", "-q", "HEAD", check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    def branch(self) -> str:
        """The branch checked out."""
        return self.run("symbolic-ref", "--short", "HEAD").stdout.strip()

    def has_remote(self, remote: str) -> bool:
        """Whether ``remote`` is configured."""
        return bool(remote) and self.run("remote", "get-url", remote, check=False).returncode == 0

    def _identity(self) -> list[str]:
        have = all(
            self.run("config", key, check=False).stdout.strip()
            for key in ("user.name", "user.email")
        )
        if have:
            return []
        return ["-c", f"user.name={DEFAULT_AUTHOR[0]}", "-c", f"user.email={DEFAULT_AUTHOR[1]}"]

    def commit(self, paths: Sequence[str], message: str) -> str:
        """Stage and commit exactly ``paths`` (added, changed or deleted); returns the commit.

        Returns the current commit unchanged when ``paths`` hold no change.
        """
        tracked = set(self.run("ls-files", "--", *paths).stdout.split())
        present = [p for p in paths if (self.path / p).exists() or p in tracked]
        if not present:
            return self.head()
        self.run("add", "-A", "--", *present)
        staged = self.run("diff", "--cached", "--quiet", "--", *present, check=False)
        if staged.returncode == 0:
            return self.head()
        self.run(*self._identity(), "commit", "-q", "-m", message, "--", *present)
        sha = self.head()
        log.info("committed %s: %s", sha[:12], message.splitlines()[0])
        return sha

    def revert(self, commit: str) -> None:
        """``git revert --no-commit``; on a conflict the revert is aborted and GitError raised."""
        if self.run("diff", "--cached", "--quiet", check=False).returncode != 0:
            raise GitError(
                f"the clone {self.path} has staged changes: a revert would commit them too",
                "commit or unstage them (git status), then run again",
            )
        done = self.run("revert", "--no-commit", commit, check=False)
        if done.returncode != 0:
            self.abort_revert()
            raise GitError(
                f"`git revert {commit[:12]}` does not apply cleanly in {self.path}: "
                f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}",
                "later commits changed the same files: restore the previous version by hand "
                "or deploy it again",
            )

    def abort_revert(self) -> None:
        """Undo a ``revert --no-commit`` in progress (index and work tree as before)."""
        self.run("revert", "--abort", check=False)

    def commit_revert(self, message: str) -> str:
        """Commit the revert in progress; returns the commit."""
        self.run(*self._identity(), "commit", "-q", "-m", message)
        return self.head()

    def is_ancestor(self, commit: str) -> bool:
        """Whether ``commit`` exists and is in the history of HEAD."""
        done = self.run("merge-base", "--is-ancestor", commit, "HEAD", check=False)
        return done.returncode == 0

    def pull(self, remote: str) -> None:
        """Fast-forward to the remote branch if it exists (the clone may be stale)."""
        branch = self.branch()
        heads = self.run("ls-remote", "--heads", remote, branch, check=False)
        if heads.returncode != 0:
            raise PushError(
                f"the remote '{remote}' of {self.path} is unreachable: {heads.stderr.strip()}",
                "check the remote URL and credentials (git remote -v)",
            )
        if not heads.stdout.strip():
            return  # the branch is not on the remote yet: the first push creates it
        self.run("pull", "-q", "--ff-only", remote, branch)

    def push(self, remote: str) -> None:
        """Push the checked-out branch to ``remote``.

        Raises:
            PushError: If the remote refuses or cannot be reached (the commits stay local).
        """
        branch = self.branch()
        done = self.run("push", "-q", remote, f"HEAD:refs/heads/{branch}", check=False)
        if done.returncode != 0:
            raise PushError(
                f"`git push {remote} {branch}` from {self.path} failed: "
                f"{' | '.join(done.stderr.strip().splitlines()[-3:])}",
                "the commits are kept in the clone: git pull --rebase, then git push",
            )
        log.info("pushed %s to %s/%s", self.head()[:12], remote, branch)
