"""validate_data component: Great Expectations validation with plain-word explanations."""
