// Firefox ESR and WebKitGTK (Safari's engine) through their WebDriver
// servers, driven with selenium-webdriver: geckodriver (crates.io) and
// WebKitWebDriver (Debian's webkit2gtk-driver), each started here on a free
// loopback port and stopped with the session. Nothing is downloaded: both
// drivers and browsers come from scripts/setup.sh.
//
// WebKitGTK needs a display: run under `xvfb-run -a` (make test-webdriver).
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createServer } from "node:net";
import { Builder } from "selenium-webdriver";
import remote from "selenium-webdriver/remote/index.js";

const { DriverService } = remote;

function which(command) {
  try {
    return execFileSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).trim();
  } catch {
    return null;
  }
}

export const FIREFOX = process.env.FIREFOX ?? "/usr/bin/firefox-esr";
export const GECKODRIVER = process.env.GECKODRIVER ?? which("geckodriver");
export const WEBKITDRIVER = process.env.WEBKITDRIVER ?? "/usr/bin/WebKitWebDriver";
/** WebKitGTK's MiniBrowser, which webkit2gtk-driver ships outside PATH. */
export const MINIBROWSER = process.env.MINIBROWSER ?? findMiniBrowser();

function findMiniBrowser() {
  for (const triplet of readdirSync("/usr/lib")) {
    for (const api of ["webkit2gtk-4.1", "webkit2gtk-4.0"]) {
      const path = `/usr/lib/${triplet}/${api}/MiniBrowser`;
      if (existsSync(path)) return path;
    }
  }
  return null;
}

/** The engines: what each needs, and how to start a session. */
export const ENGINES = {
  firefox: {
    missing: () => (!existsSync(FIREFOX) ? FIREFOX : !GECKODRIVER ? "geckodriver" : null),
    start: () =>
      session(GECKODRIVER, (port) => ["--host", "127.0.0.1", "--port", String(port)], {
        browserName: "firefox",
        "moz:firefoxOptions": { binary: FIREFOX, args: ["-headless"] },
      }),
  },
  webkit: {
    missing: () =>
      !existsSync(WEBKITDRIVER) ? WEBKITDRIVER : !MINIBROWSER ? "MiniBrowser" : !process.env.DISPLAY ? "a display (run under xvfb-run -a)" : null,
    start: () =>
      session(WEBKITDRIVER, (port) => [`--port=${port}`], {
        browserName: "MiniBrowser",
        "webkitgtk:browserOptions": { binary: MINIBROWSER, args: ["--automation"] },
      }),
  },
};

/** The engines to run: $WEBDRIVER_ENGINES (comma-separated), or all. */
export function selectedEngines() {
  const names = (process.env.WEBDRIVER_ENGINES ?? Object.keys(ENGINES).join(",")).split(",").filter(Boolean);
  for (const name of names) {
    if (!(name in ENGINES)) throw new Error(`WEBDRIVER_ENGINES: unknown engine ${name}; known: ${Object.keys(ENGINES).join(", ")}`);
  }
  return names;
}

/**
 * Starts `driver` on a free port and opens a session with `capabilities`;
 * resolves to the WebDriver, whose `quit()` also stops the driver process.
 */
async function session(driver, args, capabilities) {
  const port = await freePort();
  const stdio = process.env.WEBDRIVER_LOG ? ["ignore", "inherit", "inherit"] : "ignore";
  const service = new DriverService(driver, { port, args: args(port), hostname: "127.0.0.1", stdio });
  const url = await service.start(30_000);
  try {
    const webdriver = await new Builder().usingServer(url).withCapabilities(capabilities).build();
    const quit = webdriver.quit.bind(webdriver);
    webdriver.quit = async () => {
      try {
        await quit();
      } finally {
        await service.kill();
      }
    };
    return webdriver;
  } catch (error) {
    await service.kill();
    throw error;
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}
