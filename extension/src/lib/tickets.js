// "My tickets": the tickets filed from this browser, their last known status, and which
// changes the person has not seen yet (the badge).
export const MAX_TICKETS = 50;

export function remember(list, ticket) {
  const rest = list.filter((item) => item.id !== ticket.id);
  return [{ id: ticket.id, key: ticket.key, title: ticket.title, status: ticket.status, seenStatus: ticket.status, updatedAt: ticket.updated_at }, ...rest].slice(0, MAX_TICKETS);
}

// The list after a poll: `fresh` maps ticket id -> the ticket as the API returns it now.
export function merge(list, fresh) {
  return list.map((item) => {
    const now = fresh.get(item.id);
    return now ? { ...item, title: now.title, status: now.status, updatedAt: now.updated_at } : item;
  });
}

export function unseen(list) {
  return list.filter((item) => item.status !== item.seenStatus).length;
}

export function markSeen(list) {
  return list.map((item) => ({ ...item, seenStatus: item.status }));
}

export function badgeText(list) {
  const count = unseen(list);
  return count ? String(Math.min(count, 99)) : "";
}
