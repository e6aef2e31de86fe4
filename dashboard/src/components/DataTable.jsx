// A table of objects with a name filter and pages of at most `pageSize`
// rows, so a thousand pods cost a hundred rows of DOM.

import { useState } from "preact/hooks";
import { filterByName } from "../format.js";

// columns: [{ title, render(obj), className?, testid?(obj) }];
// rowTestId(obj) names a row for tests; snap is a useResource result (or
// { loaded, items }).
export function DataTable({ snap, columns, rowTestId, testid, noun = "objects", pageSize = 100, filterable = true, sort }) {
  const [filter, setFilter] = useState("");
  const [page, setPage] = useState(0);
  let items = filterByName(snap.items, filter);
  if (sort) items = [...items].sort(sort);
  const pages = Math.max(1, Math.ceil(items.length / pageSize));
  const current = Math.min(page, pages - 1);
  const shown = items.slice(current * pageSize, (current + 1) * pageSize);

  return (
    <div class="table-box" data-testid={testid}>
      {filterable && (
        <div class="table-tools">
          <input
            type="search"
            placeholder="Filter by name"
            value={filter}
            data-testid="filter"
            onInput={(e) => {
              setFilter(e.currentTarget.value);
              setPage(0);
            }}
          />
          <span class="muted">
            {snap.loaded ? `${items.length} ${items.length === 1 ? noun.replace(/s$/, "") : noun}` : "Loading…"}
          </span>
        </div>
      )}
      <table>
        <thead>
          <tr>
            {columns.map((c) => (
              <th class={c.className}>{c.title}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((obj) => (
            <tr key={obj.metadata?.uid ?? `${obj.metadata?.namespace}/${obj.metadata?.name}`} data-testid={rowTestId?.(obj)}>
              {columns.map((c) => (
                <td class={c.className} data-testid={c.testid?.(obj)}>
                  {c.render(obj)}
                </td>
              ))}
            </tr>
          ))}
          {snap.loaded && shown.length === 0 && (
            <tr>
              <td class="empty" colSpan={columns.length}>
                No {noun}{filter ? ` matching “${filter}”` : ""}.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {pages > 1 && (
        <div class="pager">
          <button disabled={current === 0} onClick={() => setPage(current - 1)} data-testid="page-prev">
            Previous
          </button>
          <span>
            {current * pageSize + 1}–{current * pageSize + shown.length} of {items.length}
          </span>
          <button disabled={current >= pages - 1} onClick={() => setPage(current + 1)} data-testid="page-next">
            Next
          </button>
        </div>
      )}
    </div>
  );
}
