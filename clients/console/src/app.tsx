import type { Api } from './api';
import { ApiContext } from './context';
import { href, useRoute, type View } from './router';
import { Ask } from './views/Ask';
import { Saved } from './views/Saved';
import { Search } from './views/Search';
import { SharedAnswerView } from './views/SharedAnswerView';
import { Sql } from './views/Sql';
import { Tail } from './views/Tail';

const NAV: [Exclude<View, 'answer'>, string][] = [
  ['ask', 'Ask'],
  ['search', 'Search'],
  ['tail', 'Live tail'],
  ['sql', 'SQL'],
  ['saved', 'Saved'],
];

export function App({ api }: { api: Api }) {
  const route = useRoute();
  return (
    <ApiContext.Provider value={api}>
      <a class="skip" href="#main" onClick={(event) => (event.preventDefault(), document.getElementById('main')?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <span class="brand">loglens</span>
        <nav aria-label="Views">
          <ul>
            {NAV.map(([view, label]) => (
              <li key={view}>
                <a href={href(view)} aria-current={route.view === view ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
      </header>
      <main id="main" tabIndex={-1}>
        {route.view === 'ask' ? <Ask key={route.params.get('q') ?? ''} initial={route.params.get('q') ?? undefined} /> : null}
        {route.view === 'search' ? <Search params={route.params} /> : null}
        {route.view === 'tail' ? <Tail params={route.params} /> : null}
        {route.view === 'sql' ? <Sql initial={route.params.get('sql') ?? undefined} /> : null}
        {route.view === 'saved' ? <Saved /> : null}
        {route.view === 'answer' && route.id ? <SharedAnswerView id={route.id} /> : null}
      </main>
    </ApiContext.Provider>
  );
}
