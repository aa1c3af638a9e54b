"""The drawing sanitiser against a corpus of nasty SVG: nothing that can run code, load from elsewhere or point
outside the drawing survives, and what editors write for themselves goes quietly while the drawing stays."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree.ElementTree import tostring

import pytest

from hmi.graphics.svg_safe import MAX_BYTES, MAX_ELEMENTS, SafeSvg, UnsafeSvg, load, sanitise

pytestmark = pytest.mark.req("DSP-003")

HEAD = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 100 100">'


def clean(body: str, head: str = HEAD) -> tuple[str, SafeSvg]:
    safe = sanitise((head + body + "</svg>").encode())
    return tostring(safe.root, encoding="unicode"), safe


def assert_inert(text: str) -> None:
    """No script, handler, foreign content or link out of the drawing in the output."""
    low = text.lower()
    assert "<script" not in low
    assert "foreignobject" not in low
    assert "javascript" not in low
    assert "<iframe" not in low
    assert "<use" not in low
    assert not re.search(r"\son[a-z]+\s*=", low), text
    assert "http:" not in low
    assert "https:" not in low
    assert "expression(" not in low


@pytest.mark.parametrize(
    ("body", "kept"),
    [
        ("<script>alert(1)</script><rect id='r' width='1' height='1'/>", "rect"),
        ("<script><![CDATA[ alert(1) ]]></script><rect id='r' width='1' height='1'/>", "rect"),
        ("<g id='r' onload='alert(1)'/>", "g"),
        ("<rect id='r' ONCLICK='alert(1)' OnMouseOver='x()' width='1' height='1'/>", "rect"),
        ("<a xlink:href='javascript:alert(1)'><rect id='r' width='1' height='1'/></a>", "rect"),
        ("<a href='https://evil.example/'><text id='r'>click</text></a>", "text"),
        ("<g id='r'/><use href='http://evil.example/x.svg#a'/>", "g"),
        ("<g id='r'/><use xlink:href='data:image/svg+xml;base64,PHN2Zy8+#a'/>", "g"),
        (
            "<foreignObject><div xmlns='http://www.w3.org/1999/xhtml'><img src='x' onerror='alert(1)'/></div>"
            "</foreignObject><g id='r'/>",
            "g",
        ),
        ("<iframe src='https://evil.example'/><g id='r'/>", "g"),
        ("<rect id='r' width='1' height='1' style='fill:url(http://evil.example/p.svg#x);stroke:red'/>", "rect"),
        ("<rect id='r' width='1' height='1' style='width:expression(alert(1));fill:#ccc'/>", "rect"),
        ("<rect id='r' width='1' height='1' style='fill:u\\72l(http://evil.example/x)'/>", "rect"),
        ("<rect id='r' width='1' height='1' style='behavior:url(x.htc);-moz-binding:url(x.xml#a)'/>", "rect"),
        ("<rect id='r' width='1' height='1' fill='url(https://evil.example/#p)'/>", "rect"),
        (
            "<style>@import url(https://evil.example/x.css); rect {fill: red}</style>"
            "<rect id='r' class='x' width='1' height='1'/>",
            "rect",
        ),
        (
            "<rect id='r' width='1' height='1'><animate attributeName='href' to='javascript:alert(1)'/>"
            "<set attributeName='onclick' to='alert(1)'/></rect>",
            "rect",
        ),
        ("<image href='https://evil.example/track.png' width='1' height='1'/><g id='r'/>", "g"),
        ("<image xlink:href='data:image/svg+xml,&lt;svg onload=alert(1)&gt;' width='1' height='1'/><g id='r'/>", "g"),
        ("<filter id='f'><feImage href='https://evil.example/x.png'/></filter><rect id='r' filter='url(#f)'/>", "rect"),
        ("<svg viewBox='0 0 1 1'><script>alert(1)</script></svg><g id='r'/>", "g"),
        ("<text id='r'>&lt;script&gt;alert(1)&lt;/script&gt;</text>", "text"),
    ],
)
def test_nothing_that_runs_or_loads_survives(body: str, kept: str) -> None:
    text, safe = clean(body)
    assert_inert(text.replace("&lt;script&gt;", ""))
    assert safe.ids["r"].tag == kept
    if "&lt;script" not in body:
        assert safe.removed, "what was removed is reported"


def test_a_handler_on_the_root_is_dropped_and_reported() -> None:
    text, safe = clean("<g/>", head=HEAD.replace("<svg ", "<svg onload='alert(1)' "))
    assert "onload" not in text
    assert any("onload" in r for r in safe.removed)


def test_text_that_looks_like_markup_stays_text() -> None:
    _, safe = clean("<text id='t'>&lt;img src=x onerror=alert(1)&gt;<![CDATA[<b>bold</b>]]></text>")
    assert safe.ids["t"].text == "<img src=x onerror=alert(1)><b>bold</b>"  # escaped again on output


def test_entity_bombs_and_external_entities_are_refused() -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>' + HEAD + "<text>&c;</text></svg>"
    )
    with pytest.raises(UnsafeSvg, match="entities"):
        sanitise(laughs.encode())
    external = (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + HEAD
        + "<text>&x;</text></svg>"
    )
    with pytest.raises(UnsafeSvg, match="entities"):
        sanitise(external.encode())


def test_the_svg_11_doctype_draw_io_writes_is_accepted() -> None:
    doctype = '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
    safe = sanitise((doctype + HEAD + "<rect id='r' width='1' height='1'/></svg>").encode())
    assert "r" in safe.ids


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"<svg><rect/>", "well-formed"),
        (b"<html><body/></html>", "namespace"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', "viewBox"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 a b"/>', "four numbers"),
    ],
)
def test_unusable_files_say_why(data: bytes, why: str) -> None:
    with pytest.raises(UnsafeSvg, match=why):
        sanitise(data)


def test_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.svg"
    big.write_bytes((HEAD + "<!--" + "x" * MAX_BYTES + "--></svg>").encode())
    with pytest.raises(UnsafeSvg, match="more than"):
        load(big)


def test_a_use_bomb_is_refused() -> None:
    body = "<defs><rect id='a0' width='1' height='1'/>"
    for level in range(1, 8):
        body += f"<g id='a{level}'>" + f"<use href='#a{level - 1}'/>" * 10 + "</g>"
    with pytest.raises(UnsafeSvg, match=str(f"{MAX_ELEMENTS:,}")):
        clean(body + "</defs><use href='#a7'/>")


def test_use_is_expanded_inside_the_drawing_and_a_loop_ends() -> None:
    text, safe = clean(
        "<defs><g id='valve'><rect width='2' height='3' fill='#bdbdbd'/></g></defs>"
        "<use id='v1' href='#valve' x='10' y='5'/><g id='loop'><use href='#loop'/></g>"
    )
    assert "<use" not in text
    assert safe.ids["v1"].get("transform") == "translate(10,5)"
    assert safe.ids["v1"][0][0].tag == "rect"
    assert any("itself" in r for r in safe.removed)


def test_references_must_stay_inside_the_drawing() -> None:
    text, _ = clean(
        "<linearGradient id='g'><stop offset='0' stop-color='#fff'/></linearGradient>"
        "<rect id='a' fill='url(#g)' width='1' height='1'/>"
        "<rect id='b' fill='url(#page-element)' width='1' height='1'/>"
        "<linearGradient id='h' href='#c3'/>"
    )
    assert 'fill="url(#g)"' in text
    assert "page-element" not in text
    assert "#c3" not in text


def test_inkscape_file_keeps_its_drawing() -> None:
    inkscape = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<svg width="210mm" height="297mm" viewBox="0 0 210 297" version="1.1" id="svg1"
   inkscape:version="1.3.2" sodipodi:docname="tank.svg"
   xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
   xmlns:sodipodi="http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
   xmlns="http://www.w3.org/2000/svg" xmlns:svg="http://www.w3.org/2000/svg"
   xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <sodipodi:namedview id="namedview1" pagecolor="#ffffff" inkscape:zoom="0.7" />
  <metadata><rdf:RDF><dc:title>Tank</dc:title></rdf:RDF></metadata>
  <defs id="defs1"><linearGradient id="lg1" inkscape:collect="always"><stop style="stop-color:#8c8c8c;stop-opacity:1"
     offset="0" id="stop1" /></linearGradient><linearGradient xlink:href="#lg1" id="lg2" x1="0" y1="0" x2="0" y2="1"
     gradientUnits="userSpaceOnUse" xmlns:xlink="http://www.w3.org/1999/xlink"/></defs>
  <g inkscape:label="Layer 1" inkscape:groupmode="layer" id="layer1">
    <rect style="fill:url(#lg2);stroke:#1a1a1a;stroke-width:0.5;-inkscape-stroke:none;font-variation-settings:normal"
       id="tank" width="40" height="80" x="20" y="30" inkscape:label="tank body" />
    <text xml:space="preserve" style="font-size:6px;line-height:1.25;font-family:'DejaVu Sans', sans-serif"
       x="25" y="20" id="level-text"><tspan sodipodi:role="line" id="tspan1" x="25" y="20">50 %</tspan></text>
    <path d="m 20,110 h 40 l -5,10 h -30 z" id="outlet" transform="rotate(5 40 115)" style="fill:#5c5c5c" />
  </g>
</svg>"""
    safe = sanitise(inkscape.encode())
    assert safe.removed == []
    assert safe.view_box == (0, 0, 210, 297)
    assert {"tank", "level-text", "tspan1", "outlet", "lg1", "lg2", "layer1"} <= set(safe.ids)
    tank = safe.ids["tank"]
    assert tank.get("style") == "fill:url(#lg2);stroke:#1a1a1a;stroke-width:0.5"
    assert (tank.get("x"), tank.get("width")) == ("20", "40")
    assert safe.ids["lg2"].get("href") == "#lg1"
    assert safe.ids["tspan1"].text == "50 %"
    assert safe.ids["outlet"].get("transform") == "rotate(5 40 115)"
    text = tostring(safe.root, encoding="unicode")
    assert "inkscape" not in text
    assert "sodipodi" not in text
    assert "metadata" not in text


def test_draw_io_file_keeps_its_drawing_and_cell_ids() -> None:
    drawio = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" width="121px"
   height="61px" viewBox="-0.5 -0.5 121 61" content="&lt;mxfile&gt;&lt;diagram&gt;...&lt;/diagram&gt;&lt;/mxfile&gt;"
   style="background: transparent; background-color: transparent;">
  <defs/>
  <g><g data-cell-id="0"><g data-cell-id="1"><g data-cell-id="pump-1">
    <rect x="0" y="0" width="120" height="60" rx="9" ry="9" fill="light-dark(#ffffff, var(--ge-dark-color, #121212))"
       stroke="rgb(0, 0, 0)" pointer-events="all"/>
    <g transform="translate(-0.5 -0.5)"><switch>
      <foreignObject pointer-events="none" width="100%" height="100%"
         requiredFeatures="http://www.w3.org/TR/SVG11/feature#Extensibility"
         style="overflow: visible; text-align: left;"><div
         xmlns="http://www.w3.org/1999/xhtml">Pump 1</div></foreignObject>
      <text x="60" y="34" fill="rgb(0, 0, 0)" font-family="&quot;Helvetica&quot;" font-size="12px"
         text-anchor="middle">Pump 1</text>
    </switch></g>
  </g></g></g></g>
  <switch><g requiredFeatures="http://www.w3.org/TR/SVG11/feature#Extensibility"/>
    <a transform="translate(0,-5)" xlink:href="https://www.drawio.com/doc/faq/svg-export-text-problems" target="_blank">
      <text text-anchor="middle" font-size="10px" x="50%" y="100%">Text is not SVG - cannot display</text></a></switch>
</svg>"""
    safe = sanitise(drawio.encode())
    text = tostring(safe.root, encoding="unicode")
    assert_inert(text)
    pump = safe.ids["pump-1"]
    rect = pump.find("rect")
    assert rect is not None
    assert rect.get("fill") == "#ffffff"  # draw.io's light-dark() colour, light theme
    assert rect.get("stroke") == "rgb(0, 0, 0)"
    switch = pump.find("g/switch")
    assert switch is not None
    assert [c.tag for c in switch] == ["text"]  # the plain-SVG label stays, the HTML label goes
    assert "content" not in text
    assert "mxfile" not in text
    assert any("foreignObject" in r for r in safe.removed)


def test_class_rules_of_a_style_sheet_are_inlined_through_the_filter() -> None:
    # As Illustrator and Visio write them; the rest of the sheet goes.
    text, safe = clean(
        "<style type='text/css'><![CDATA[ /* Illustrator */ @import url(https://evil.example/x.css);"
        " .st0{fill:#FFFFFF;stroke:#000000} .st1, .st2{font-family:'Arial';stroke:url(http://evil.example/p)}"
        " text > tspan {fill:red} @media print { .st0 {fill:#000} } ]]></style>"
        "<rect id='a' class='st0 st2' style='stroke:#1a1a1a' width='1' height='1'/><text id='t' class='st1'>x</text>"
    )
    assert safe.ids["a"].get("style") == "fill:#FFFFFF;font-family:'Arial';stroke:#1a1a1a"
    assert safe.ids["t"].get("style") == "font-family:'Arial'"
    assert "<style" not in text
    assert "class=" not in text
    assert_inert(text)
    assert any("@-rules" in r for r in safe.removed)
    assert any("'text > tspan' not applied" in r for r in safe.removed)
    assert any("http://evil.example/p" in r for r in safe.removed)
