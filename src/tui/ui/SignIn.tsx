/**
 * The Basic sign-in prompt for the admin API (SPEC §16.5): `Sign in as <ADMIN_USER>`, the
 * password masked, three attempts; Esc or a third wrong password gives up.
 */
import { Box, Text, useInput } from "ink";
import TextInput from "ink-text-input";
import { useState } from "react";

export const SIGN_IN_ATTEMPTS = 3;

export function SignIn({
  user,
  via,
  tryPassword,
  giveUp,
}: {
  user: string;
  via: string | null;
  tryPassword: (password: string) => Promise<"ok" | "wrong" | "unreachable">;
  giveUp: () => void;
}) {
  const [value, setValue] = useState("");
  const [failures, setFailures] = useState(0);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useInput((_input, key) => {
    if (key.escape) giveUp();
  });

  const submit = (password: string) => {
    if (busy) return;
    setBusy(true);
    void tryPassword(password).then((result) => {
      setBusy(false);
      setValue("");
      if (result === "ok") return;
      if (result === "unreachable") {
        setMessage("The admin API did not answer; try again.");
        return;
      }
      const failed = failures + 1;
      setFailures(failed);
      if (failed >= SIGN_IN_ATTEMPTS) giveUp();
      else setMessage(`Wrong password (${SIGN_IN_ATTEMPTS - failed} attempt${SIGN_IN_ATTEMPTS - failed === 1 ? "" : "s"} left)`);
    });
  };

  return (
    <Box flexDirection="column" paddingX={2} paddingY={1}>
      <Text bold>Sign in as {user}</Text>
      <Text color="gray">The admin API{via ? ` at ${via}` : ""} asks for the password of ADMIN_USER. Esc quits.</Text>
      <Text> </Text>
      <Box>
        <Text>Password: </Text>
        <TextInput value={value} onChange={setValue} onSubmit={submit} mask="*" focus={!busy} />
      </Box>
      {busy && <Text color="gray">Checking…</Text>}
      {message && <Text color="red">{message}</Text>}
    </Box>
  );
}
