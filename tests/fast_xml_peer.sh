#!/usr/bin/env bash
# fast_xml's own EUnit suite (test/fxml_test.erl of processone/fast_xml),
# unchanged, against our fast_xml drop-in. Optional: needs a checkout of
# fast_xml's sources, which this repository does not contain:
#   FAST_XML_SRC=/path/to/fast_xml bash tests/fast_xml_peer.sh
# Its fxml_gen/fxmlrpc tests (code generation and XML-RPC, not parsing) are
# outside the drop-in; the script reports them separately.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${FAST_XML_SRC:-}" ]; then
    echo "fast_xml_peer: FAST_XML_SRC unset: fast_xml's own suite not run"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
erlc -o "$tmp" -I "$repo/erlang/apps/fast_xml/include" "$FAST_XML_SRC/test/fxml_test.erl"
ERL_LIBS=$repo/erlang/_build/default/lib erl -noshell -pa "$tmp" -eval '
    %% the code generation and XML-RPC tests need fxml_gen/fxmlrpc: not part of the drop-in
    Outside = [compile_spec_test, rpc_fault_test, rpc_call_test, response_test,
               rpc_empty_call_test, rpc_empty_response_test],
    All = [F || {F, 0} <- fxml_test:module_info(exports), lists:suffix("_test", atom_to_list(F))],
    Gens = [F || {F, 0} <- fxml_test:module_info(exports), lists:suffix("_test_", atom_to_list(F))],
    Ours = [{fxml_test, F} || F <- All -- Outside] ++ [{generator, fxml_test, G} || G <- Gens],
    io:format("fxml_test: ~b tests here, ~b outside the drop-in (fxml_gen/fxmlrpc)~n",
              [length(Ours), length(All) - length(All -- Outside)]),
    case eunit:test(Ours, []) of ok -> halt(0); _ -> halt(1) end.'
