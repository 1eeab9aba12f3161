defmodule Mix.Tasks.Compile.XmppAccelNif do
  @moduledoc """
  Builds the xmpp-accel Rust NIF and puts it where `xmpp_accel_nif.erl` loads it.

  Runs `cargo build --release -p xmpp_accel_nif` in the cargo workspace at the
  root of this project and copies the library to `priv/xmpp_accel_nif.so`, which
  Mix links into `_build/<env>/lib/xmpp_accel/priv` (what
  `:code.priv_dir(:xmpp_accel)` returns). The file is only replaced when its
  bytes change, and always by a rename, never rewritten in place.

  Environment, as for `erlang/apps/xmpp_accel/build_nif.sh`:

    * `XMPP_ACCEL_PROFILE=debug` builds without optimisation (faster compile);
    * `CARGO_TARGET_DIR` is honoured when set.

  Needs `cargo` (https://rustup.rs); no hex package is involved.
  """
  use Mix.Task.Compiler

  @shortdoc "Builds the xmpp-accel Rust NIF with cargo"

  @impl Mix.Task.Compiler
  def run(_args) do
    config = Mix.Project.config()
    root = Path.dirname(Mix.Project.project_file())
    profile = System.get_env("XMPP_ACCEL_PROFILE", "release")
    target = System.get_env("CARGO_TARGET_DIR") || Path.join(root, "target")

    cargo =
      System.find_executable("cargo") ||
        Mix.raise("cargo not found: install Rust (https://rustup.rs) to build the xmpp-accel NIF")

    flags = if profile == "release", do: ["--release", "--quiet"], else: ["--quiet"]

    args =
      ["build" | flags] ++
        ["--manifest-path", Path.join(root, "Cargo.toml"), "-p", "xmpp_accel_nif"]

    case System.cmd(cargo, args, cd: root, stderr_to_stdout: true, into: IO.stream(:stdio, :line)) do
      {_, 0} -> :ok
      {_, status} -> Mix.raise("cargo build of xmpp_accel_nif failed (exit status #{status})")
    end

    built = Path.join([target, profile, library_name()])
    File.regular?(built) || Mix.raise("cargo did not produce #{built}")

    priv = Path.join(root, "priv")
    dest = Path.join(priv, "xmpp_accel_nif.so")
    File.mkdir_p!(priv)

    status =
      if File.regular?(dest) and File.read!(dest) == File.read!(built) do
        :noop
      else
        tmp = dest <> ".tmp"
        File.cp!(built, tmp)
        File.rename!(tmp, dest)
        Mix.shell().info("Copied #{Path.relative_to(built, root)} to priv/xmpp_accel_nif.so")
        :ok
      end

    # Mix links priv/ into the build directory before compilers run; from a
    # clean checkout priv/ did not exist then, so link (or copy) it now.
    :ok = Mix.Project.build_structure(config)
    {status, []}
  end

  @impl Mix.Task.Compiler
  def clean do
    File.rm(Path.join([Path.dirname(Mix.Project.project_file()), "priv", "xmpp_accel_nif.so"]))
    :ok
  end

  defp library_name do
    case :os.type() do
      {:unix, :darwin} -> "libxmpp_accel_nif.dylib"
      _ -> "libxmpp_accel_nif.so"
    end
  end
end

defmodule XmppAccel.MixProject do
  use Mix.Project

  def project do
    [
      app: :xmpp_accel,
      version: "0.1.0",
      elixir: "~> 1.14",
      description:
        "xmpp-accel: Rust NIFs for XMPP servers; drop-ins for exml, fast_xml and fast_tls",
      # No hex dependency: everything builds offline.
      deps: [],
      compilers: [:xmpp_accel_nif] ++ Mix.compilers(),
      erlc_paths: [
        "erlang/apps/xmpp_accel/src",
        "erlang/apps/exml/src",
        "erlang/apps/fast_xml/src",
        "erlang/apps/fast_tls/src"
      ],
      # A single directory in Elixir 1.14; more would go in erlc_options as {:i, ~c"dir"}.
      erlc_include_path: "erlang/apps/exml/include",
      erlc_options: [
        {:i, ~c"erlang/apps/fast_xml/include"},
        :debug_info,
        :warnings_as_errors,
        :warn_unused_vars,
        :warn_export_vars
      ],
      # The Elixir face has no Elixir code of its own: it is the Erlang modules.
      elixirc_paths: [],
      test_paths: ["test"],
      start_permanent: Mix.env() == :prod
    ]
  end

  def application do
    []
  end
end
