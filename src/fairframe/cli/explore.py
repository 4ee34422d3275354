"""``fairframe explore SOURCE... --out DIR``: a browsable page of the images of one or more runs or
folders (one model each), side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from fairframe.cli._common import (
    RichProgress,
    err_console,
    handle_errors,
    out_console,
    print_json,
)

__all__ = ["explore_command"]


@handle_errors
def explore_command(
    sources: list[Path] = typer.Argument(
        ..., help="One or more sources, each an audit run folder, a folder of images (caption = "
                  "parent folder name) or an image manifest (.csv/.tsv/.jsonl with prompt, seed, "
                  "path). Each is a model: give several runs over the same captions to compare "
                  "them."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for explore.html, explore.json, "
                                                      "faces/."),
    embedder: str = typer.Option(
        "auto", "--embedder",
        help="auto, colour-hog (offline, no model), clip, clip:MODEL or tiny://clip."),
    clusters: int | None = typer.Option(
        None, "--clusters", "-k", help="Number of k-means clusters (default: best silhouette, "
                                       "2-12)."),
    max_images: int = typer.Option(2000, "--max-images", help="Most images to explore (shared "
                                                              "equally by source and caption)."),
    seed: int = typer.Option(0, "--seed", help="Seed of k-means."),
    faces: bool = typer.Option(True, "--faces/--no-faces", help="Detect faces and average them."),
    as_json: bool = typer.Option(False, "--json", help="Print the written paths and counts as "
                                                       "JSON."),
) -> None:
    """Image grids with filters, nearest neighbours, clusters, average faces and colourfulness,
    in one self-contained page (OUT/explore.html) that needs no network."""
    from fairframe.explore import explore

    with RichProgress(enabled=not as_json) as progress:
        result = explore(sources, out, embedder=embedder, k=clusters, max_images=max_images,
                         seed=seed, face_detector="opencv-cascade" if faces else None,
                         progress=progress)
    if as_json:
        print_json({"html": str(result.html), "json": str(result.json),
                    "faces": str(result.faces_dir), "embedder": result.embedder,
                    "counts": dict(result.counts), "notes": list(result.notes)})
        return
    out_console.print(f"    html: {result.html}", highlight=False)
    out_console.print(f"    json: {result.json}", highlight=False)
    c = result.counts
    err_console.print(
        f"{c['images']} images, {c['models']} model{'s' if c['models'] != 1 else ''}, "
        f"{c['captions']} captions, {c['clusters']} clusters "
        f"({result.embedder}), {c['faces']} faces", highlight=False)
    for note in result.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False)
