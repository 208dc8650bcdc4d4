"""Party dues (党费): the 2008 rules, the yearly assessment, the monthly cycle per branch,
online payment through a provider, arrears reminders and the month's totals up the tree."""
