// Links that switch a view's part: tabs = [{ id, label, href? }].

export function Tabs({ tabs, current, onSelect }) {
  return (
    <nav class="tabs">
      {tabs.map((t) => (
        <a
          href={t.href ?? "#"}
          class={t.id === current ? "active" : ""}
          data-testid={`tab-${t.id}`}
          onClick={(e) => {
            if (!onSelect) return;
            e.preventDefault();
            onSelect(t.id);
          }}
        >
          {t.label}
        </a>
      ))}
    </nav>
  );
}
