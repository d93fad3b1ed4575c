#!/usr/bin/env python
"""Finished runs in the layout of the VI-ReID papers' tables, beside the published numbers of
MPANet and PartMix, as Markdown, LaTeX and CSV.

    python tools/results_table.py output/partmix/sysu_partmix output/partmix/regdb_partmix \\
        "PartMix (LLCM, ours)=output/partmix/llcm_partmix" --output-dir output/tables

A RUN is [LABEL=]FOLDER (the label defaults to the folder's name). FOLDER is either a run's
OUTPUT_DIR (its config.yaml says the dataset, its metrics.json's last evaluation gives the
numbers) or the OUTPUT_DIR of tools/regdb_trials.py (regdb_trials.json: the mean over the split
trials). Tables, one per dataset among the runs':
  SYSU-MM01: all-search and indoor-search x single-shot and multi-shot (10 shots), and the gallery
             draw of every result (official rand_perm_cam.mat, AGW's seeded draw, or partreid's
             own seeded multi-shot draw);
  RegDB:     visible -> thermal and thermal -> visible;
  LLCM:      infrared -> visible and visible -> infrared;
each with R1, R10, R20, mAP and mINP. "n/r": not reported by the cited source (or not verified
from it); "-": not evaluated by the run. Writes <output-dir>/<name>.md, .tex and .csv (the CSV
has one row per method and setting, with the std over trials where the run has one) and prints
the Markdown.
"""
import argparse
import csv
import io
import json
import os
from collections import OrderedDict

import yaml
from tabulate import tabulate

from partreid.utils.cli import run_tool
from partreid.utils.events import read_metrics

METRICS = (("Rank-1", "R1"), ("Rank-10", "R10"), ("Rank-20", "R20"), ("mAP", "mAP"), ("mINP", "mINP"))
# dataset -> [(result group, column title)], in the papers' order
SETTINGS = OrderedDict([
    ("SYSU-MM01", [("all_search_1shot", "All-search single-shot"), ("all_search_10shot", "All-search multi-shot"),
                   ("indoor_search_1shot", "Indoor-search single-shot"),
                   ("indoor_search_10shot", "Indoor-search multi-shot")]),
    ("RegDB", [("visible_to_thermal", "Visible to Thermal"), ("thermal_to_visible", "Thermal to Visible")]),
    ("LLCM", [("infrared_to_visible", "IR to VIS"), ("visible_to_infrared", "VIS to IR")]),
])
# registered dataset name (DATASETS.TEST) -> table
TABLE_OF_DATASET = {"SYSUMM01": "SYSU-MM01", "RegDB": "RegDB", "LLCM": "LLCM"}
DRAW_MEANINGS = {
    "official": "the official gallery draws of SYSU-MM01's exp/rand_perm_cam.mat",
    "agw_seeded": "seeded single-shot draws (seed = trial), the galleries of AGW's and DEEN's public test scripts",
    "partreid_seeded": "seeded multi-shot draws (seed = trial) that only partreid makes: no published multi-shot "
                       "number was measured on these galleries",
}
NOT_REPORTED, NOT_EVALUATED = "n/r", "-"

# Published numbers, each with where it was read. Only numbers quoted by a source at hand are here;
# every other cell of these rows prints n/r.
PUBLISHED = [
    {
        "method": "MPANet",
        "source": "Wu et al., Discover Cross-Modality Nuances for Visible-Infrared Person Re-Identification, "
                  "CVPR 2021: all-search and indoor-search single-shot R1 and mAP as quoted in projects/PartMix/docs/METHOD.md "
                  "(the paper's table number is not verified here)",
        "results": {"SYSU-MM01": {"all_search_1shot": {"Rank-1": 70.58, "mAP": 68.24},
                                  "indoor_search_1shot": {"Rank-1": 76.74, "mAP": 80.95}}},
    },
    {
        "method": "PartMix",
        "source": "Kim et al., PartMix: Regularization Strategy to Learn Part Discovery for Visible-Infrared "
                  "Person Re-identification, CVPR 2023 (arXiv 2304.01537): all-search and indoor-search R1 as "
                  "quoted in docs/METHOD.md, which does not name the shot setting (placed under single-shot, the "
                  "papers' headline setting); the paper's table number and its RegDB numbers are not verified here",
        "results": {"SYSU-MM01": {"all_search_1shot": {"Rank-1": 77.78}, "indoor_search_1shot": {"Rank-1": 81.52}}},
    },
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="[LABEL=]FOLDER of a finished run or of tools/regdb_trials.py")
    p.add_argument("--output-dir", default="output/tables", help="where <name>.md, .tex and .csv go")
    p.add_argument("--name", default="results", help="file name (without extension) of the tables")
    p.add_argument("--no-published", action="store_true", help="leave the published rows out")
    return p.parse_args(argv)


def split_run(text: str):
    """"LABEL=FOLDER" or "FOLDER" -> (label, folder)."""
    label, sep, folder = text.partition("=")
    if not sep:
        folder = text
        label = os.path.basename(os.path.normpath(folder))
    return label, folder


def last_evaluation(metrics_file: str) -> dict:
    """{group: {metric: value}} of the last evaluated iteration of a metrics.json (a resumed run's
    repeated iterations: the later line wins)."""
    rows = [r for r in read_metrics(metrics_file) if any(k.startswith("eval/") for k in r)]
    if not rows:
        raise ValueError(f"{metrics_file} holds no evaluation: did the run finish?")
    last = max(int(r["iteration"]) for r in rows)
    groups = OrderedDict()
    for row in rows:
        if int(row["iteration"]) == last:
            for key, value in row.items():
                if key.startswith("eval/"):
                    group, metric = key[len("eval/"):].split("/", 1)
                    groups.setdefault(group, {})[metric] = value
    return groups


def read_run(label: str, folder: str) -> dict:
    """{label, folder, table, groups, note} of one run folder."""
    trials_file = os.path.join(folder, "regdb_trials.json")
    if os.path.isfile(trials_file):
        with open(trials_file) as f:
            summary = json.load(f)
        count = len(summary["trials"])
        note = "mean over 10 split trials" if summary["complete"] else f"mean over {count} of 10 split trials"
        return {"label": label, "folder": folder, "table": "RegDB", "groups": summary["mean_std"], "note": note}
    config_file, metrics_file = os.path.join(folder, "config.yaml"), os.path.join(folder, "metrics.json")
    for path in (config_file, metrics_file):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{folder}: no {os.path.basename(path)} (expected a run's OUTPUT_DIR with "
                                    "config.yaml and metrics.json, or the OUTPUT_DIR of tools/regdb_trials.py)")
    with open(config_file) as f:
        datasets = yaml.safe_load(f)["DATASETS"]
    if datasets["TEST"] not in TABLE_OF_DATASET:
        raise ValueError(f"{folder} was evaluated on DATASETS.TEST {datasets['TEST']!r}, which has no table in the "
                         f"papers (expected one of {sorted(TABLE_OF_DATASET)})")
    table = TABLE_OF_DATASET[datasets["TEST"]]
    note = f"split trial {datasets['REGDB_TRIAL']} only, not the mean over 10 trials" if table == "RegDB" else ""
    return {"label": label, "folder": folder, "table": table, "groups": last_evaluation(metrics_file), "note": note}


def draws_of(run) -> str:
    """The gallery draws of a SYSU-MM01 run's settings, e.g. "official" or
    "agw_seeded (single-shot); partreid_seeded (multi-shot)"."""
    by_draw = OrderedDict()
    for group, title in SETTINGS["SYSU-MM01"]:
        draw = run["groups"].get(group, {}).get("draw")
        if draw is not None:
            by_draw.setdefault(draw, []).append(title.split()[-1])
    if len(by_draw) == 1:
        return next(iter(by_draw))
    return "; ".join(f"{draw} ({', '.join(dict.fromkeys(shots))})" for draw, shots in by_draw.items())


def table_rows(table: str, runs, published):
    """[(method, source tag, {group: {metric: value}}, draw, note, source)] of one table: the
    published rows first."""
    rows = []
    for index, entry in enumerate(published, start=1):
        rows.append((entry["method"], f"[{index}]", entry["results"].get(table, {}), NOT_REPORTED, "", entry["source"]))
    for run in runs:
        if run["table"] == table:
            draw = draws_of(run) if table == "SYSU-MM01" else ""
            rows.append((run["label"], "", run["groups"], draw, run["note"], run["folder"]))
    return rows


def cell(groups, group, metric, is_published) -> str:
    value = groups.get(group, {}).get(metric)
    if value is None:
        return NOT_REPORTED if is_published else NOT_EVALUATED
    return f"{value:.2f}"


def notes(table, rows, published):
    """The lines under a table: what n/r and - mean, the draws in it, the sources."""
    lines = [f"{NOT_REPORTED}: not reported by the source (or not verified from it); {NOT_EVALUATED}: not "
             "evaluated by the run. Ours: the last evaluation of each run."]
    if table == "SYSU-MM01":
        lines += [f"Gallery draw {d}: {meaning}." for d, meaning in DRAW_MEANINGS.items()
                  if any(d in row[3] for row in rows)]
    lines += [f"[{i}] {entry['source']}." for i, entry in enumerate(published, start=1)]
    return lines


def grid(table, rows):
    """(headers, [cells]) of one table: a method column, then every setting x metric (and the
    gallery draw on SYSU-MM01)."""
    settings = SETTINGS[table]
    headers = ["Method"] + [f"{title} {short}" for _, title in settings for _, short in METRICS]
    body = []
    for method, tag, groups, draw, note, _ in rows:
        name = f"{method} {tag}".strip() + (f" ({note})" if note else "")
        body.append([name] + [cell(groups, g, m, bool(tag)) for g, _ in settings for m, _ in METRICS])
    if table == "SYSU-MM01":
        headers.append("Gallery draw")
        for line, row in zip(body, rows):
            line.append(row[3])
    return headers, body


def markdown(table, rows, published) -> str:
    headers, body = grid(table, rows)
    text = tabulate(body, headers=headers, tablefmt="pipe", disable_numparse=True,
                    colalign=["left"] + ["right"] * (len(headers) - 1))
    return f"### {table}\n\n{text}\n\n" + "".join(f"{line}  \n" for line in notes(table, rows, published))


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "#": r"\#", "_": r"\_", "$": r"\$",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(char, char) for char in text)


def latex(table, rows, published) -> str:
    """A booktabs table: one column group per setting, as in the papers."""
    settings = SETTINGS[table]
    headers, body = grid(table, rows)
    sysu = table == "SYSU-MM01"
    width = len(METRICS)
    spec = "l" + "c" * (width * len(settings)) + ("l" if sysu else "")
    groups = " & ".join(rf"\multicolumn{{{width}}}{{c}}{{{latex_escape(title)}}}" for _, title in settings)
    rules = "".join(rf"\cmidrule(lr){{{2 + i * width}-{1 + (i + 1) * width}}}" for i in range(len(settings)))
    shorts = " & ".join(short for _ in settings for _, short in METRICS)
    lines = [r"\begin{table}[t]", r"\centering", r"\footnotesize", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             rf"Method & {groups}{' & Gallery draw' if sysu else ''} \\", rules,
             rf" & {shorts}{' & ' if sysu else ''} \\", r"\midrule"]
    lines += [" & ".join(latex_escape(c) for c in line) + r" \\" for line in body]
    lines += [r"\bottomrule", r"\end{tabular}",
              rf"\caption{{{latex_escape(table)}. " + latex_escape(" ".join(notes(table, rows, published))) + "}",
              r"\end{table}"]
    return "\n".join(lines) + "\n"


def csv_rows(rows_by_table):
    """One row per method and setting: the metrics, their std over trials where a run has one,
    the gallery draw, the source or note."""
    header = ["dataset", "setting", "method", "source"] + [short for _, short in METRICS] + \
        [f"{short}_std" for _, short in METRICS] + ["draw", "note"]
    out = [header]
    for table, rows in rows_by_table.items():
        for method, _, groups, _, note, source in rows:
            for group, title in SETTINGS[table]:
                metrics = groups.get(group, {})
                values = [metrics.get(m, "") for m, _ in METRICS] + [metrics.get(f"{m}_std", "") for m, _ in METRICS]
                out.append([table, title, method, source] + values + [metrics.get("draw", ""), note])
    return out


def main(argv=None):
    args = parse_args(argv)
    runs = [read_run(*split_run(text)) for text in args.runs]
    published = [] if args.no_published else PUBLISHED
    rows_by_table = OrderedDict((table, table_rows(table, runs, published))
                                for table in SETTINGS if any(run["table"] == table for run in runs))
    md = "\n".join(markdown(table, rows, published) for table, rows in rows_by_table.items())
    tex = "\n".join(latex(table, rows, published) for table, rows in rows_by_table.items())
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(csv_rows(rows_by_table))
    os.makedirs(args.output_dir, exist_ok=True)
    paths = {}
    for ext, text in (("md", md), ("tex", tex), ("csv", buffer.getvalue())):
        paths[ext] = os.path.join(args.output_dir, f"{args.name}.{ext}")
        with open(paths[ext], "w") as f:
            f.write(text)
    print(md + f"\nWritten: {', '.join(paths.values())}", flush=True)
    return paths


if __name__ == "__main__":
    run_tool(main)
