// Your app's web server. It uses only Node's built-in modules, so it starts at once.
// It serves the files in public/ and one small JSON API. Change anything you like,
// commit, and press Publish: your app goes live at your own address.
const http = require("http");
const fs = require("fs");
const path = require("path");

const PORT = Number(process.env.PORT || 8080);
const PUBLIC = path.join(__dirname, "public");
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
};

let counter = 0;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/api/counter") {
    counter += 1;
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ counter }));
    return;
  }
  // Serve a file from public/, never outside it.
  const name = url.pathname === "/" ? "index.html" : decodeURIComponent(url.pathname);
  const file = path.join(PUBLIC, path.normalize(name));
  if (!file.startsWith(PUBLIC + path.sep)) {
    res.writeHead(400, { "Content-Type": "text/plain" });
    res.end("Bad path\n");
    return;
  }
  fs.readFile(file, (err, data) => {
    if (err) {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("Not found\n");
      return;
    }
    res.writeHead(200, { "Content-Type": TYPES[path.extname(file)] || "application/octet-stream" });
    res.end(data);
  });
});

server.listen(PORT, () => {
  console.log(`Your app is listening on port ${PORT}`);
});

// Stop cleanly when a new version replaces this one.
process.on("SIGTERM", () => server.close(() => process.exit(0)));
