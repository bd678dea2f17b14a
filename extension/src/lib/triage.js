// What the editor shows from GET /v1/tickets/{ref}/ai: the latest category, priority, type and
// tags with their confidence, and the similar tickets flagged as possible duplicates.
export function latestByAgent(decisions) {
  const latest = {};
  for (const decision of decisions ?? []) {
    const seen = latest[decision.agent];
    if (!seen || seen.created_at <= decision.created_at) latest[decision.agent] = decision;
  }
  return latest;
}

export function summarize(ai) {
  const latest = latestByAgent(ai?.decisions);
  const categorization = latest.categorization?.output ?? {};
  const priority = latest.priority?.output ?? {};
  return {
    ready: Boolean(latest.categorization || latest.priority),
    category: categorization.category ? { value: categorization.category, confidence: categorization.category_confidence ?? null } : null,
    type: categorization.type ? { value: categorization.type, confidence: categorization.type_confidence ?? null } : null,
    priority: priority.priority ? { value: priority.priority, confidence: priority.confidence ?? null } : null,
    tags: (categorization.tags ?? []).map((tag) => ({ value: tag.name, confidence: tag.confidence })),
    summary: ai?.summary ?? null,
    duplicates: (ai?.similar ?? []).filter((s) => s.possible_duplicate),
    similar: ai?.similar ?? [],
  };
}

export function percent(confidence) {
  return confidence == null ? "" : `${Math.round(confidence * 100)} %`;
}
