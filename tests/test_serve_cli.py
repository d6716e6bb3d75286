"""`nextterm serve` on the command line: options, defaults, and user errors (exit status 2)."""

from __future__ import annotations

from nextterm.cli import build_parser, main


def test_serve_defaults_bind_loopback():
    args = build_parser().parse_args(["serve", "--model", "some/dir"])
    assert (args.host, args.port, args.api_key, args.max_batch, args.max_queue) == ("127.0.0.1", 8000, None, 64, 256)
    assert args.timeout == 60.0


def test_bad_settings_and_missing_models_exit_2(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path), "--max-batch", "0"]) == 2
    assert "max_batch must be at least 1" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
