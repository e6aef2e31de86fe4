import { defineConfig } from "vite";

// The build is compiled into the capstan binary and served at /dashboard/,
// so it must be exactly index.html, app.js and app.css: fixed names (no
// hashes, no assets/ folder), no source maps, nothing loaded from elsewhere.
const EXPECTED_FILES = ["app.css", "app.js", "index.html"];
// The delimiter of the C++ raw string the files are embedded in.
const RAW_STRING_END = ')capstan_text"';

// Fails the build whose output the server could not embed.
function embeddable() {
  return {
    name: "capstan-embeddable",
    enforce: "post",
    generateBundle(_, bundle) {
      const names = Object.keys(bundle).sort();
      if (names.join() !== EXPECTED_FILES.join()) {
        this.error(`the build must be exactly ${EXPECTED_FILES.join(", ")}; it is ${names.join(", ")}`);
      }
      for (const [name, file] of Object.entries(bundle)) {
        const text = file.type === "chunk" ? file.code : String(file.source);
        if (text.includes(RAW_STRING_END)) this.error(`${name} contains ${RAW_STRING_END}`);
      }
    },
  };
}

export default defineConfig({
  base: "./",
  plugins: [embeddable()],
  publicDir: false,
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  build: {
    target: "es2022",
    assetsDir: "",
    sourcemap: false,
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    // The preload polyfill is unneeded (one chunk) and would add code.
    modulePreload: { polyfill: false },
    rolldownOptions: {
      output: {
        entryFileNames: "app.js",
        chunkFileNames: "app-[name].js",
        assetFileNames: "app.[ext]",
      },
    },
  },
});
