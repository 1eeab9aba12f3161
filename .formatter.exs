# Used by "mix format" (Elixir files of the Elixir face: mix.exs and the ExUnit tests).
[
  inputs: ["mix.exs", ".formatter.exs", "test/**/*.exs"]
]
