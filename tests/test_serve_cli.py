"""`nextterm serve` on the command line: options, defaults, and user errors (exit status 2)."""

from __future__ import annotations

from nextterm.cli import build_parser, main


def test_serve_defaults_bind_loopback():
    args = build_parser().parse_args(["serve", "--model", "some/dir"])
    assert (args.host, args.port, args.api_key, args.max_batch, args.max_queue) == (
        "127.0.0.1",
        8000,
        None,
        64,
        256,
    )
    assert args.timeout == 60.0


def test_bad_settings_and_missing_models_exit_2(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path), "--max-batch", "0"]) == 2
    assert "max_batch must be at least 1" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path / "missing"), "--port", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_serve_without_a_model_serves_the_shipped_one_by_its_name(monkeypatch):
    """`nextterm serve` refused to start without --model, while `predict` uses the shipped model."""
    import nextterm.serve.server as server
    from nextterm.predict import default_model_path

    seen = {}
    monkeypatch.setattr(
        server,
        "build_app",
        lambda model, config, device=None, lookup_index=None: seen.update(
            model=model, config=config
        ),
    )
    monkeypatch.setattr(server, "run_server", lambda app, config, **options: None)
    assert main(["serve", "--port", "0"]) == 0
    assert seen["model"] == default_model_path() and seen["config"].model_name == "nextterm-default"
    assert build_parser().parse_args(["serve", "--read-timeout", "5"]).read_timeout == 5.0


def test_serve_open_opens_the_page_once_serving(monkeypatch):
    import webbrowser

    import nextterm.serve.server as server

    seen, opened = {}, []
    monkeypatch.setattr(server, "build_app", lambda model, config, **options: None)
    monkeypatch.setattr(server, "run_server", lambda app, config, **options: seen.update(options))
    monkeypatch.setattr(webbrowser, "open", opened.append)
    assert main(["serve", "--port", "8123"]) == 0
    assert seen["on_started"] is None
    assert main(["serve", "--port", "8123", "--open"]) == 0
    assert opened == []  # not before the server accepts connections
    seen["on_started"]()
    assert opened == ["http://127.0.0.1:8123/"]
