// Live views of the server: poll a GET endpoint every `ms`.
import { useEffect, useState } from "react";

/** The JSON at `url`, refreshed every `ms`; `null` until known or if unavailable. */
export function usePoll(url, ms = 500) {
  const [data, setData] = useState(null);
  useEffect(() => {
    let stopped = false;
    let timer;
    let lastText;
    async function tick() {
      try {
        const response = await fetch(url);
        const text = response.ok ? await response.text() : null;
        if (!stopped && text !== lastText) {
          lastText = text;
          setData(text === null ? null : JSON.parse(text));
        }
      } catch {
        // the server is away: keep the last view
      }
      if (!stopped) timer = setTimeout(tick, ms);
    }
    tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [url, ms]);
  return data;
}
