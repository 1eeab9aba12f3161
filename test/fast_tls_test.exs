defmodule FastTlsTest do
  @moduledoc "The fast_tls drop-in from Elixir: a TLS session over a real socket on 127.0.0.1."
  use ExUnit.Case, async: true

  setup_all do
    %{cert: der, key: key} =
      :public_key.pkix_test_root_cert(~c"xmpp-accel ExUnit", [{:key, {:namedCurve, :secp256r1}}])

    pem =
      :public_key.pem_encode([
        {:Certificate, der, :not_encrypted},
        :public_key.pem_entry_encode(:ECPrivateKey, key)
      ])

    path =
      Path.join(System.tmp_dir!(), "xmpp-accel-exunit-#{System.unique_integer([:positive])}.pem")

    File.write!(path, pem)
    on_exit(fn -> File.rm(path) end)
    %{certfile: path, der: der}
  end

  test "a client and a server exchange data and agree on the session", %{
    certfile: certfile,
    der: der
  } do
    {:ok, listen} = :gen_tcp.listen(0, [:binary, active: false, ip: {127, 0, 0, 1}])
    {:ok, port} = :inet.port(listen)

    server =
      Task.async(fn ->
        {:ok, sock} = :gen_tcp.accept(listen, 5000)
        {:ok, tls} = :fast_tls.tcp_to_tls(sock, [{:certfile, certfile}, :verify_none])
        {:ok, "ping"} = :fast_tls.recv(tls, 0, 5000)
        :ok = :fast_tls.send(tls, "pong")
        {:ok, exporter} = :fast_tls.get_tls_cb_exporter(tls)
        {:error, :closed} = :fast_tls.recv(tls, 0, 5000)
        exporter
      end)

    {:ok, sock} = :gen_tcp.connect({127, 0, 0, 1}, port, [:binary, active: false])
    {:ok, tls} = :fast_tls.tcp_to_tls(sock, [:connect])
    assert {:ok, ""} = :fast_tls.recv_data(tls, "")
    # queued until the handshake is done
    assert :ok = :fast_tls.send(tls, "ping")
    assert {:ok, "pong"} = :fast_tls.recv(tls, 0, 5000)
    assert {:ok, "TLSv1.3 " <> _cipher} = :fast_tls.get_negotiated_cipher(tls)
    assert {:ok, ^der} = :fast_tls.get_peer_certificate(tls, :der)
    assert 18 == :fast_tls.get_verify_result(tls)
    assert "self signed certificate" == :fast_tls.get_cert_verify_string(18, der)
    {:ok, exporter} = :fast_tls.get_tls_cb_exporter(tls)
    :ok = :fast_tls.close(tls)
    assert exporter == Task.await(server)
    assert {:error, :closed} = :fast_tls.recv_data(tls, "x")
    :gen_tcp.close(listen)
  end

  test "a server needs a certificate file" do
    assert {:error, :no_certfile} = :fast_tls.tcp_to_tls(:undefined, [])
  end

  test "p1_sha gives lowercase hex" do
    assert "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3" == :p1_sha.sha("test")
  end
end
