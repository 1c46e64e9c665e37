/** The overview's Health section: opens and clicks the tracking queue gave up on, and the form that sends them back. */
import type { DeadLetter } from "../db/dead-letters";
import { formatCount, formatTime } from "./format";

/** How many of the newest dead letters the section lists. */
export const DEAD_LETTERS_SHOWN = 5;

/** What a dead letter's body says, as far as it can be read. */
function describe(body: string): { kind: string; messageId: string } {
  try {
    const parsed = JSON.parse(body) as { kind?: unknown; messageId?: unknown };
    return {
      kind: typeof parsed.kind === "string" ? parsed.kind : "?",
      messageId: typeof parsed.messageId === "string" ? parsed.messageId : "?",
    };
  } catch {
    return { kind: "?", messageId: "?" };
  }
}

/** The Health section: the count of dead letters, the newest few, and "send back to the queue". */
export function HealthSection(props: { deadLetters: { count: number; newest: DeadLetter[] }; csrf: string; notice?: string }) {
  const { count, newest } = props.deadLetters;
  return (
    <section id="health">
      <h2>Health</h2>
      {props.notice && <p role="status">{props.notice}</p>}
      <div class="cards">
        <div class="card" data-stat="dead-letters" data-value={String(count)}>
          <b>{formatCount(count)}</b>
          <span>Opens and clicks not recorded</span>
        </div>
      </div>
      {count === 0 ? (
        <p class="muted">Every open and click the tracking queue delivered has been recorded.</p>
      ) : (
        <>
          <p class="muted">
            These failed every retry of the tracking queue and are kept here. Once the cause is fixed, send them back: each is recorded
            once, however often it is sent.
          </p>
          <table id="dead-letters">
            <thead>
              <tr>
                <th>Given up</th>
                <th>Kind</th>
                <th>Message</th>
                <th>Why</th>
              </tr>
            </thead>
            <tbody>
              {newest.map((letter) => {
                const { kind, messageId } = describe(letter.body);
                return (
                  <tr data-id={letter.id}>
                    <td>{formatTime(letter.deadAt)}</td>
                    <td>{kind}</td>
                    <td>
                      <code>{messageId}</code>
                    </td>
                    <td>{letter.reason}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <form method="post" action="/admin/health/dead-letters/retry">
            <input type="hidden" name="_csrf" value={props.csrf} />
            <button type="submit">Send back to the queue</button>
          </form>
        </>
      )}
    </section>
  );
}
