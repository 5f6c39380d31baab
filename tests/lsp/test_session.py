"""The language server over stdio, as an editor drives it: diagnostics on open and change
(also in files that depend on the changed one), quick fixes, hover, definition, completion."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types as lsp
from pytest_lsp import LanguageClient


def uri(path: Path) -> str:
    return path.resolve().as_uri()


async def open_file(client: LanguageClient, path: Path, text: str | None = None) -> None:
    client.text_document_did_open(
        lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(
                uri=uri(path),
                language_id="yaml",
                version=1,
                text=path.read_text() if text is None else text,
            )
        )
    )
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    await _settle(client)


async def _settle(client: LanguageClient) -> None:
    """Wait until the server has published for every file of the bundle (one analysis
    publishes them together; a round trip after them is a hover that answers)."""
    await client.text_document_hover_async(
        lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri="file:///nowhere.yaml"),
            position=lsp.Position(line=0, character=0),
        )
    )


async def change(client: LanguageClient, path: Path, text: str, version: int) -> None:
    client.text_document_did_change(
        lsp.DidChangeTextDocumentParams(
            text_document=lsp.VersionedTextDocumentIdentifier(uri=uri(path), version=version),
            content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    await client.wait_for_notification(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    await _settle(client)


def found(client: LanguageClient, path: Path) -> list[tuple[str, int, int, int]]:
    """(code, line, first column, last column) of each diagnostic of a file, 0-based."""
    return sorted(
        (str(d.code), d.range.start.line, d.range.start.character, d.range.end.character)
        for d in client.diagnostics.get(uri(path), [])
    )


def all_found(client: LanguageClient, bundle: Path) -> int:
    return sum(len(v) for k, v in client.diagnostics.items() if k.startswith(uri(bundle)))


@pytest.mark.asyncio
async def test_three_mistakes_three_diagnostics_one_fixed_two_left(
    client: LanguageClient,
    bundle: Path,
) -> None:
    responsible = bundle / "responsible-pct.yaml"
    large = bundle / "large.yaml"
    tests = bundle / "tests" / "t.yaml"
    responsible.write_text(
        responsible.read_text().replace(
            "case.person.residence.covered_by is not none",
            "case.person.residense.covered_by is not none",
        )
    )
    large.write_text(
        large.read_text().replace("responsible_pct.population", "responsible_pct.populaton")
    )
    tests.write_text(tests.read_text().replace("    responsible_pct:", "    responsible_pc:"))
    await open_file(client, responsible)
    assert found(client, responsible) == [("E-unknown-attribute", 13, 22, 31)]
    assert found(client, large) == [("E-unknown-attribute", 5, 58, 67)]
    assert found(client, tests) == [("E-unknown-decision", 3, 4, 18)]
    assert all_found(client, bundle) == 3
    (diagnostic,) = client.diagnostics[uri(responsible)]
    assert diagnostic.severity == lsp.DiagnosticSeverity.Error
    assert diagnostic.message == "for rule 'resident', unknown attribute 'residense' on case.person"
    assert diagnostic.related_information is not None
    assert diagnostic.related_information[0].message == "help: did you mean 'residence'?"

    actions = await client.text_document_code_action_async(
        lsp.CodeActionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(responsible)),
            range=diagnostic.range,
            context=lsp.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    assert actions is not None
    (action,) = actions
    assert isinstance(action, lsp.CodeAction) and action.title == "Change to 'residence'"
    assert action.edit is not None and action.edit.changes is not None
    (edit,) = action.edit.changes[uri(responsible)]
    lines = responsible.read_text().splitlines(keepends=True)
    line = lines[edit.range.start.line]
    lines[edit.range.start.line] = (
        line[: edit.range.start.character] + edit.new_text + line[edit.range.end.character :]
    )
    await change(client, responsible, "".join(lines), 2)
    assert found(client, responsible) == []
    assert all_found(client, bundle) == 2


@pytest.mark.asyncio
async def test_a_change_rechecks_the_files_that_depend_on_it(
    client: LanguageClient,
    bundle: Path,
) -> None:
    responsible = bundle / "responsible-pct.yaml"
    large = bundle / "large.yaml"
    await open_file(client, responsible)
    assert all_found(client, bundle) == 0
    renamed = responsible.read_text().replace("decision: responsible_pct", "decision: responsible")
    await change(client, responsible, renamed, 2)
    assert found(client, large) == [
        ("E-unknown-decision", 5, 10, 25),
        ("E-unknown-decision", 5, 42, 57),
    ]
    assert found(client, bundle / "tests" / "t.yaml") == [("E-unknown-decision", 3, 4, 19)]
    await change(client, responsible, responsible.read_text(), 3)
    assert all_found(client, bundle) == 0


async def _hover(client: LanguageClient, path: Path, line: int, character: int) -> str:
    result = await client.text_document_hover_async(
        lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)),
            position=lsp.Position(line=line, character=character),
        )
    )
    assert result is not None and isinstance(result.contents, lsp.MarkupContent)
    return result.contents.value


@pytest.mark.asyncio
async def test_hover(client: LanguageClient, bundle: Path) -> None:
    large = bundle / "large.yaml"
    tests = bundle / "tests" / "t.yaml"
    responsible = bundle / "responsible-pct.yaml"
    await open_file(client, large)
    await open_file(client, tests)
    # `responsible_pct` in `responsible_pct.population > 300000`: the decision
    assert await _hover(client, large, 5, 12) == (
        "**decision** `responsible_pct`: The PCT responsible for the person\n\n"
        "output `pct?`, hit `first`, 3 rules"
    )
    # `population`: the attribute and its type from the schema
    assert (
        await _hover(client, large, 5, 60)
        == "**attribute** `population` of pct: `int` (a whole number)"
    )
    # `pct` in `case.person.practice.pct`: the relation
    assert (await _hover(client, responsible, 9, 33)).startswith(
        "**relation** `pct`: `pct?` (a pct (or none))\n\n`part_of`: practice → pct (one)"
    )
    # the rule id `resident` in the test's expectation: its title, cite, reason
    assert (
        await _hover(client, tests, 3, 41)
        == "**rule** `resident` of `responsible_pct`\n\nreason: `4`"
    )
    assert (await _hover(client, responsible, 5, 10)).startswith(
        "**rule** `registered` of `responsible_pct`: Registered with a practice\n\n"
        "cite: Data Dictionary (a)"
    )
    # an organisation code: its name and validity, from the data
    assert (await _hover(client, tests, 3, 29)) == (
        "**pct** `5QL` Somerset PCT\n\nvalid 2006-10-01 → 2013-03-31 ("
        + str((bundle / "pct.csv").resolve())
        + ":2)"
    )
    # a key: the schema's title and description
    assert (await _hover(client, large, 3, 1)).startswith("**Rules**\n\nThe rules, in order")


async def _definition(
    client: LanguageClient, path: Path, line: int, character: int
) -> list[tuple[str, int, int]]:
    result = await client.text_document_definition_async(
        lsp.DefinitionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)),
            position=lsp.Position(line=line, character=character),
        )
    )
    assert isinstance(result, list)
    return [
        (
            Path(loc.uri.removeprefix("file://")).name,
            loc.range.start.line,
            loc.range.start.character,
        )
        for loc in result
        if isinstance(loc, lsp.Location)
    ]


@pytest.mark.asyncio
async def test_definition(client: LanguageClient, bundle: Path) -> None:
    large = bundle / "large.yaml"
    tests = bundle / "tests" / "t.yaml"
    responsible = bundle / "responsible-pct.yaml"
    await open_file(client, large)
    await open_file(client, tests)
    # a decision reference → the decision's name
    assert await _definition(client, large, 5, 12) == [("responsible-pct.yaml", 0, 10)]
    # an attribute → its declaration in the schema; a relation → the relation
    assert await _definition(client, large, 5, 60) == [("bundle.yaml", 13, 8)]
    assert await _definition(client, responsible, 9, 33) == [("bundle.yaml", 17, 4)]
    # a case field (or group) → the case schema
    assert await _definition(client, responsible, 9, 20) == [("bundle.yaml", 5, 2)]
    assert await _definition(client, responsible, 9, 25) == [("bundle.yaml", 6, 4)]
    # test → decision, and the rule it names
    assert await _definition(client, tests, 3, 8) == [("responsible-pct.yaml", 0, 10)]
    assert await _definition(client, tests, 3, 41) == [("responsible-pct.yaml", 11, 8)]
    # a kind named in `output:` → the kind in the schema
    assert await _definition(client, large, 2, 9) == []
    assert await _definition(client, responsible, 2, 9) == [("bundle.yaml", 10, 4)]


async def _complete(
    client: LanguageClient, path: Path, text: str, line: int, character: int
) -> list[str]:
    await change(client, path, text, 5)
    result = await client.text_document_completion_async(
        lsp.CompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri(path)),
            position=lsp.Position(line=line, character=character),
        )
    )
    assert isinstance(result, lsp.CompletionList)
    return [item.label for item in result.items]


@pytest.mark.asyncio
async def test_completion(client: LanguageClient, bundle: Path) -> None:
    large = bundle / "large.yaml"
    text = large.read_text()
    await open_file(client, large)
    # attribute and relation names after '.'
    when = "when: responsible_pct is not none and responsible_pct.population > 300000"
    typed = text.replace(when, "when: responsible_pct.")
    assert await _complete(client, large, typed, 5, 26) == ["covers", "population", "practices"]
    typed = text.replace(when, "when: case.person.")
    assert await _complete(client, large, typed, 5, 22) == ["practice", "residence"]
    # decision names and functions where an operand starts
    typed = text.replace(when, "when: res")
    labels = await _complete(client, large, typed, 5, 13)
    assert "responsible_pct" in labels and "count" in labels and "large" not in labels
    # parameter values
    typed = text.replace(when, "when: params.mode == ")
    assert await _complete(client, large, typed, 5, 25) == ["'home'", "'present'"]
    # YAML keys the schema allows, and the values it lists
    typed = text.replace("  - id: small-pct\n", "  - id: small-pct\n    ti\n")
    assert await _complete(client, large, typed, 7, 6) == [
        "title",
        "status",
        "cite",
        "reason",
        "tags",
        "priority",
        "effective",
        "when",
    ]
    typed = text.replace("rules:", "hit: \nrules:")
    assert await _complete(client, large, typed, 3, 5) == [
        "first",
        "priority",
        "unique",
        "any",
        "collect",
    ]


@pytest.mark.asyncio
async def test_the_server_survives_half_typed_text(client: LanguageClient, bundle: Path) -> None:
    large = bundle / "large.yaml"
    await open_file(client, large)
    text = large.read_text()
    for version, broken in enumerate(
        [
            text[: len(text) // 2],
            "decision: [",
            "rules:\n  - id: x\n    when: (((",
            "\t\x00",
            text.replace("when:", "when: any(x in"),
            ":",
            "- - - -",
            text + "\n  - id: {",
        ],
        start=2,
    ):
        await change(client, large, broken, version)
        for line in range(4):
            for character in (0, 5, 12):
                await client.text_document_hover_async(
                    lsp.HoverParams(
                        text_document=lsp.TextDocumentIdentifier(uri=uri(large)),
                        position=lsp.Position(line=line, character=character),
                    )
                )
                await client.text_document_completion_async(
                    lsp.CompletionParams(
                        text_document=lsp.TextDocumentIdentifier(uri=uri(large)),
                        position=lsp.Position(line=line, character=character),
                    )
                )
    await change(client, large, text, 100)
    assert found(client, large) == []
    assert not [m for m in client.log_messages if m.type == lsp.MessageType.Error]
    await asyncio.sleep(0)


@pytest.mark.asyncio
async def test_an_organisation_code_literal(client: LanguageClient, bundle: Path) -> None:
    """`pct('5QL')`: its name and validity on hover, its kind on go-to-definition, kinds among
    the completions, and a code the data lacks as a diagnostic at the code."""
    large = bundle / "large.yaml"
    when = "when: responsible_pct is not none and responsible_pct.population > 300000"
    text = large.read_text().replace(when, "when: responsible_pct == pct('5QL')")
    large.write_text(text)
    await open_file(client, large)
    assert found(client, large) == []
    assert await _hover(client, large, 5, 34) == (
        "**pct** `5QL` Somerset PCT\n\nvalid 2006-10-01 → 2013-03-31 ("
        + str((bundle / "pct.csv").resolve())
        + ":2)"
    )
    assert await _definition(client, large, 5, 32) == [("bundle.yaml", 10, 4)]
    labels = await _complete(client, large, text.replace("pct('5QL')", "pc"), 5, 33)
    assert "pct" in labels and "practice" in labels
    await change(client, large, text.replace("'5QL'", "'5ql'"), 2)
    assert found(client, large) == [("W-unknown-code", 5, 33, 38)]
