// Loaded into a service by `tsmicro dev` (node --import): the service runs in a process group of
// its own, so when `tsmicro dev` ends without stopping it (kill -9) it would run on, registered,
// holding its database, with nobody to stop it. It stops as on a stop signal instead.

/** How often the service checks that `tsmicro dev` is still its parent. */
const parentCheckMs = 500;

const parent = process.ppid;
const timer = setInterval(() => {
  if (process.ppid === parent) return;
  clearInterval(timer);
  process.kill(process.pid, "SIGTERM");
}, parentCheckMs);
timer.unref();
export {};
