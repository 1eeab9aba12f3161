defmodule XmppAccel.ExmlTest do
  @moduledoc """
  The exml drop-in (`:exml`, `:exml_stream`, `:exml_query`) called from Elixir,
  through the real Rust NIF.
  """
  use ExUnit.Case, async: true

  require Record

  @hrl Path.expand("../erlang/apps/exml/include/exml_stream.hrl", __DIR__)

  Record.defrecordp(:xmlel, Record.extract(:xmlel, from: @hrl))
  Record.defrecordp(:xmlcdata, Record.extract(:xmlcdata, from: @hrl))
  Record.defrecordp(:xmlstreamstart, Record.extract(:xmlstreamstart, from: @hrl))
  Record.defrecordp(:xmlstreamend, Record.extract(:xmlstreamend, from: @hrl))

  @message "<message to='a@b' type='chat'><body>hi &amp; there</body></message>"

  @stream_header "<stream:stream xmlns='jabber:client' " <>
                   "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"

  @stream @stream_header <>
            "<message to='a@b' type='chat'><body>hi &amp; there</body></message>" <>
            "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>" <>
            "</stream:stream>"

  defp message_record do
    xmlel(
      name: "message",
      attrs: %{"to" => "a@b", "type" => "chat"},
      children: [xmlel(name: "body", children: [xmlcdata(content: "hi & there")])]
    )
  end

  # Feeds `data` to a fresh parser in chunks of `size` bytes; returns all items.
  defp parse_in_chunks(data, size, opts \\ []) do
    {:ok, parser} = :exml_stream.new_parser(opts)

    {_parser, items} =
      data
      |> chunks(size)
      |> Enum.reduce({parser, []}, fn chunk, {parser, acc} ->
        {:ok, parser, items} = :exml_stream.parse(parser, chunk)
        {parser, acc ++ items}
      end)

    items
  end

  defp chunks(<<>>, _size), do: []

  defp chunks(data, size) when byte_size(data) <= size, do: [data]

  defp chunks(data, size) do
    <<chunk::binary-size(size), rest::binary>> = data
    [chunk | chunks(rest, size)]
  end

  describe ":exml.parse/1" do
    test "parses an element into records with map attributes" do
      assert {:ok, element} = :exml.parse(@message)
      assert element == message_record()
      assert xmlel(element, :name) == "message"
      assert xmlel(element, :attrs) == %{"to" => "a@b", "type" => "chat"}

      assert [xmlel(name: "body", children: [xmlcdata(content: "hi & there")])] =
               xmlel(element, :children)
    end

    test "accepts a list of binaries and resolves character references" do
      assert {:ok, xmlel(name: "a", children: [xmlcdata(content: "A<b")])} =
               :exml.parse(["<a>&#x41;", "&lt;b</a>"])
    end

    test "rejects malformed XML with a binary reason" do
      assert {:error, reason} = :exml.parse("<a><b></a>")
      assert is_binary(reason) and reason != ""

      assert {:error, reason} = :exml.parse("<a>")
      assert is_binary(reason) and reason != ""

      assert {:error, _} = :exml.parse("not xml at all")
    end

    test "rejects an undefined entity" do
      assert {:error, reason} = :exml.parse("<a>&foo;</a>")
      assert is_binary(reason)
      assert reason =~ "foo"
    end
  end

  describe ":exml.to_binary/1" do
    test "round trips a message byte for byte" do
      assert {:ok, element} = :exml.parse(@message)
      assert :exml.to_binary(element) == @message
    end

    test "serialises records built in Elixir" do
      assert :exml.to_binary(message_record()) == @message

      element =
        xmlel(
          name: "a",
          attrs: %{"v" => "1<2&3"},
          children: [xmlcdata(content: "x<y"), xmlcdata(content: "<c>", style: :cdata)]
        )

      assert :exml.to_binary(element) == "<a v='1&lt;2&amp;3'>x&lt;y<![CDATA[<c>]]></a>"
      assert :exml.to_binary(xmlel(name: "empty")) == "<empty/>"
    end

    test "serialises stream header and end" do
      start = xmlstreamstart(name: "stream:stream", attrs: %{"xmlns" => "jabber:client"})
      assert :exml.to_binary(start) == "<stream:stream xmlns='jabber:client'>"
      assert :exml.to_binary(xmlstreamend(name: "stream:stream")) == "</stream:stream>"
    end

    test "raises {:badxml, item, reason} on a malformed record" do
      bad = {:xmlel, "a", 1, []}

      error = assert_raise ErlangError, fn -> :exml.to_binary(bad) end
      assert {:badxml, ^bad, _reason} = error.original

      bad_child = {:xmlel, "a", %{}, [:oops]}
      error = assert_raise ErlangError, fn -> :exml.to_binary(bad_child) end
      assert {:badxml, ^bad_child, _reason} = error.original
    end
  end

  describe ":exml.to_pretty_iolist/1" do
    test "indents children by two spaces, one node per line" do
      {:ok, element} =
        :exml.parse("<message to='a@b'><body>hi &amp; there</body><thread>t1</thread></message>")

      pretty = :exml.to_pretty_iolist(element)

      assert IO.iodata_to_binary(pretty) ==
               "<message to='a@b'>\n" <>
                 "  <body>hi &amp; there</body>\n" <>
                 "  <thread>t1</thread>\n" <>
                 "</message>\n\n"

      # whitespace-only text is the only difference from the compact form
      assert {:ok, reparsed} = :exml.parse(pretty)
      assert :exml.to_binary(:exml.remove_cdata(reparsed)) == :exml.to_binary(element)
    end
  end

  describe ":exml_stream" do
    defp expected_items do
      [
        xmlstreamstart(
          name: "stream:stream",
          attrs: %{
            "xmlns" => "jabber:client",
            "xmlns:stream" => "http://etherx.jabber.org/streams",
            "to" => "localhost",
            "version" => "1.0"
          }
        ),
        xmlel(
          name: "message",
          attrs: %{"to" => "a@b", "type" => "chat"},
          children: [xmlel(name: "body", children: [xmlcdata(content: "hi & there")])]
        ),
        xmlel(
          name: "iq",
          attrs: %{"type" => "get", "id" => "1"},
          children: [xmlel(name: "query", attrs: %{"xmlns" => "jabber:iq:roster"})]
        ),
        xmlstreamend(name: "stream:stream")
      ]
    end

    test "parses a whole stream in one call" do
      assert parse_in_chunks(@stream, byte_size(@stream)) == expected_items()
    end

    test "gives the same items however the stream is cut" do
      for size <- [1, 2, 3, 5, 7, 16, 64] do
        assert parse_in_chunks(@stream, size) == expected_items(), "chunk size #{size}"
      end
    end

    test "returns each item as soon as its last byte arrives" do
      {:ok, parser} = :exml_stream.new_parser()

      assert {:ok, parser, [xmlstreamstart(name: "stream:stream")]} =
               :exml_stream.parse(parser, @stream_header)

      assert {:ok, parser, []} = :exml_stream.parse(parser, "<message to='a@b'><bo")

      assert {:ok, parser, [xmlel(name: "message", children: [xmlel(name: "body")])]} =
               :exml_stream.parse(parser, "dy/></message>")

      assert {:ok, _parser, [xmlstreamend(name: "stream:stream")]} =
               :exml_stream.parse(parser, "</stream:stream>")
    end

    test "max_element_size 10 rejects a larger stanza" do
      {:ok, parser} = :exml_stream.new_parser([{:max_element_size, 10}])
      assert {:ok, parser, [xmlstreamstart(name: "s")]} = :exml_stream.parse(parser, "<s>")
      assert {:ok, parser, [xmlel(name: "a")]} = :exml_stream.parse(parser, "<a>ok</a>")

      assert {:error, "element too big"} =
               :exml_stream.parse(parser, "<message><body>too long</body></message>")
    end

    test "reports malformed input and undefined entities as errors" do
      {:ok, parser} = :exml_stream.new_parser()
      assert {:ok, parser, [xmlstreamstart()]} = :exml_stream.parse(parser, @stream_header)
      assert {:error, reason} = :exml_stream.parse(parser, "<a></b>")
      assert is_binary(reason) and reason != ""

      {:ok, parser} = :exml_stream.new_parser()
      assert {:ok, parser, [xmlstreamstart()]} = :exml_stream.parse(parser, @stream_header)
      assert {:error, reason} = :exml_stream.parse(parser, "<a>&foo;</a>")
      assert reason =~ "foo"

      {:ok, parser} = :exml_stream.new_parser()
      assert {:error, reason} = :exml_stream.parse(parser, "<p:stream><a/>")
      assert is_binary(reason) and reason != ""
    end

    test "reset_parser/1 starts a new stream" do
      {:ok, parser} = :exml_stream.new_parser()
      assert {:ok, parser, [xmlstreamstart(name: "s")]} = :exml_stream.parse(parser, "<s><half")
      assert {:ok, parser} = :exml_stream.reset_parser(parser)
      assert {:ok, _parser, [xmlstreamstart(name: "t")]} = :exml_stream.parse(parser, "<t>")
    end
  end

  describe ":exml_query" do
    setup do
      {:ok, iq} =
        :exml.parse(
          "<iq type='result' id='r1'>" <>
            "<query xmlns='jabber:iq:roster'>" <>
            "<item jid='alice@example.com' name='Alice'/>" <>
            "<item jid='bob@example.com'><group>Friends</group></item>" <>
            "</query></iq>"
        )

      %{iq: iq}
    end

    test "path/2 follows element steps and ends in an attribute, text or element", %{iq: iq} do
      roster = [{:element_with_ns, "query", "jabber:iq:roster"}]

      assert :exml_query.path(iq, roster ++ [{:element, "item"}, {:attr, "jid"}]) ==
               "alice@example.com"

      assert :exml_query.path(
               iq,
               roster ++
                 [{:element_with_attr, "jid", "bob@example.com"}, {:element, "group"}, :cdata]
             ) == "Friends"

      assert xmlel(name: "query") = :exml_query.path(iq, [{:element, "query"}])
      assert :exml_query.path(iq, []) == iq
    end

    test "path/2 gives undefined when a step does not match", %{iq: iq} do
      assert :exml_query.path(iq, [{:element, "nope"}, {:attr, "jid"}]) == :undefined
      assert :exml_query.path(iq, [{:element_with_ns, "query", "other"}]) == :undefined

      assert :exml_query.path(iq, [{:element, "query"}, {:element, "item"}, {:attr, "x"}]) ==
               :undefined
    end

    test "attr/2 reads an attribute or gives undefined", %{iq: iq} do
      assert :exml_query.attr(iq, "type") == "result"
      assert :exml_query.attr(iq, "id") == "r1"
      assert :exml_query.attr(iq, "missing") == :undefined
      assert :exml_query.attr(iq, "missing", "default") == "default"
    end
  end
end
