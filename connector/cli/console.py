"""Shared rich consoles: stdout carries results only, stderr carries everything else."""

from __future__ import annotations

from rich.console import Console

console = Console()
error_console = Console(stderr=True)
