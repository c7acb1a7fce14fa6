// Preloaded by bun test (bunfig.toml). Tests create their own loggers; nothing global to set up
// beyond making sure a stray proxy started without one does not flood the test output.
process.env.SOLI_PROXY_INTERNAL_TEST = "1";
