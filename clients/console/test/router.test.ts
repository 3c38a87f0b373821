import { describe, expect, it } from 'vitest';
import { answerHref, filtersFromParams, href, paramsFromFilters, parseRoute } from '../src/router';

describe('hash routes', () => {
  it('reads views, their parameters and shared answers', () => {
    expect(parseRoute('').view).toBe('ask');
    expect(parseRoute('#/nowhere').view).toBe('ask');
    const search = parseRoute('#/search?service=api&level=ERROR,FATAL');
    expect(search.view).toBe('search');
    expect(search.params.get('service')).toBe('api');
    expect(parseRoute(answerHref('AbC_-12345678901234567'))).toMatchObject({ view: 'answer', id: 'AbC_-12345678901234567' });
    expect(parseRoute('#/answers/../../x').view).toBe('ask');
  });

  it('round-trips search filters through the URL, metadata included', () => {
    const filters = { service: 'checkout', level: ['ERROR', 'FATAL'], since: '7d', contains: "50% it's", metadata: { region: 'eu', 'order_id': 'A&B=C' } };
    const route = parseRoute(href('search', paramsFromFilters(filters)));
    expect(filtersFromParams(route.params)).toEqual(filters);
  });

  it('leaves empty filters out', () => {
    expect(filtersFromParams(new URLSearchParams('service=&level=&contains=%20'))).toEqual({});
  });
});
