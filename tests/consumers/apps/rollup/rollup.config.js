// Rollup with node-resolve only (browser field and exports conditions).
import { nodeResolve } from "@rollup/plugin-node-resolve";

export default {
  input: "src/main.js",
  output: { dir: "dist", format: "es", entryFileNames: "main.js" },
  plugins: [nodeResolve({ browser: true })],
};
