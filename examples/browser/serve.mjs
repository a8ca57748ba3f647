// A static server for the example page (no network, no dependencies):
//   node examples/browser/serve.mjs model.onnx [--port 8080]
// serves this folder, onnxruntime-web's files under /ort/, llp's metadata reader under /lib/,
// and the model as /model.onnx. Open the printed address in a browser.
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const TYPES = {
  ".html": "text/html",
  ".mjs": "text/javascript",
  ".js": "text/javascript",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".map": "application/json",
};

/** Starts the server; resolves to its address and a close(). */
export function serve(model, port = 0) {
  if (!existsSync(model)) throw new Error(`${model}: no such file (make one with llp export RUN_DIR --out ${model})`);
  const ortDir = dirname(createRequire(import.meta.url).resolve("onnxruntime-web"));
  const libDir = resolve(here, "..", "..", "dist", "src", "infer");
  const roots = [
    ["/ort/", ortDir],
    ["/lib/", libDir],
    ["/", here],
  ];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    let file = null;
    if (path === "/model.onnx") file = resolve(model);
    else
      for (const [prefix, dir] of roots) {
        if (!path.startsWith(prefix)) continue;
        const f = normalize(join(dir, path.slice(prefix.length) || "index.html"));
        if (f === dir || f.startsWith(dir + sep)) file = f; // nothing outside the served folders
        break;
      }
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok) =>
    server.listen(port, "127.0.0.1", () => {
      const { port: p } = server.address();
      ok({ url: `http://127.0.0.1:${p}/`, close: () => new Promise((done) => server.close(done)) });
    }),
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const i = args.indexOf("--port");
  const port = i >= 0 ? Number(args[i + 1]) : 8080;
  const model = args.find((a, j) => !a.startsWith("--") && j !== i + 1);
  if (!model) {
    process.stderr.write("usage: node examples/browser/serve.mjs MODEL.onnx [--port 8080]\n");
    process.exit(2);
  }
  const { url } = await serve(model, port);
  process.stdout.write(`the example page: ${url}\n`);
}
