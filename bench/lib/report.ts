import { cpus, totalmem } from "node:os";
import { fmt } from "./stats";
import type { BenchResult, Sizes } from "./types";

export interface Environment {
  date: string;
  node: string;
  postgres: string;
  sizes: Sizes;
  smoke: boolean;
  seconds: number;
}

export function markdown(env: Environment, results: BenchResult[], chartFile: string): string {
  const cpu = cpus()[0]?.model ?? "unknown cpu";
  const lines = [
    `# Benchmarks, ${env.date}${env.smoke ? " (smoke sizes)" : ""}`,
    "",
    `Machine: ${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB. Node ${env.node}. ${env.postgres}.`,
    `Data set: ${Object.entries(env.sizes)
      .map(([k, v]) => `${v.toLocaleString("en-US")} ${k}`)
      .join(", ")}. Whole run: ${fmt(env.seconds / 60)} min.`,
    "",
    "Every baseline is measured in the same run, on the same machine, through the same client as our figure.",
    "Ratios are written so that more is better for us.",
    "",
    `![ours against the baselines](${chartFile})`,
    "",
  ];
  for (const r of results) {
    lines.push(
      `## ${r.title}`,
      "",
      `Baseline: ${r.baselineName}.`,
      "",
      "| case | ours | baseline | unit | ratio | detail |",
      "| --- | ---: | ---: | --- | ---: | --- |",
    );
    for (const row of r.rows) {
      lines.push(
        `| ${row.label} | ${fmt(row.ours)} | ${fmt(row.baseline)} | ${row.unit} | **${fmt(row.ratio)}x** | ${row.detail ?? ""} |`,
      );
    }
    if (r.targets.length > 0) lines.push("", "| target | met | measured |", "| --- | --- | --- |");
    for (const t of r.targets) lines.push(`| ${t.text} | ${t.met ? "yes" : "**no**"} | ${t.note ?? ""} |`);
    for (const n of r.notes) lines.push("", `Note: ${n}`);
    lines.push("");
  }
  return lines.join("\n");
}

/** One horizontal bar per row: the ratio on a log scale, 1x marked. */
export function svgChart(results: BenchResult[]): string {
  const rows = results.flatMap((r) => r.rows.map((row) => ({ bench: r.name, ...row })));
  const width = 900;
  const left = 360;
  const barArea = width - left - 80;
  const rowH = 22;
  const height = 40 + rows.length * rowH;
  const maxLog = Math.max(
    1,
    ...rows.map((r) => Math.log10(Math.max(1, Number.isFinite(r.ratio) ? r.ratio : 1000))),
  );
  const minLog = Math.min(-1, ...rows.map((r) => Math.log10(Math.max(0.01, r.ratio))));
  const x = (ratio: number) =>
    left +
    ((Math.log10(Math.max(0.01, Math.min(ratio, 10 ** maxLog))) - minLog) / (maxLog - minLog)) * barArea;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">Ours against the baseline (ratio, log scale; right of the line is better)</text>`,
    `<line x1="${x(1)}" y1="28" x2="${x(1)}" y2="${height - 4}" stroke="#444" stroke-dasharray="3,3"/>`,
  ];
  rows.forEach((r, i) => {
    const y = 32 + i * rowH;
    const ratio = Number.isFinite(r.ratio) ? r.ratio : 10 ** maxLog;
    const x0 = Math.min(x(1), x(ratio));
    const w = Math.max(1, Math.abs(x(ratio) - x(1)));
    parts.push(`<text x="10" y="${y + 14}">${esc(`${r.bench}: ${r.label}`).slice(0, 60)}</text>`);
    parts.push(
      `<rect x="${x0}" y="${y + 3}" width="${w}" height="${rowH - 8}" fill="${ratio >= 1 ? "#0f766e" : "#b91c1c"}"/>`,
    );
    parts.push(`<text x="${Math.max(x(1), x(ratio)) + 4}" y="${y + 14}">${fmt(r.ratio)}x</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}
